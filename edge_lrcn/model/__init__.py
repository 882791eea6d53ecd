"""The model: the bundle file (:mod:`.bundle`), its loading policy (:mod:`.loader`), the LiteRT interpreters and
delegates (:mod:`.interpreter`) and the child-process check of untrusted models (:mod:`.verify`)."""
