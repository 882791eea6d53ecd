"""Objects out: the Sink interface and the kinds of objects (:mod:`.sink`), stdout (:mod:`.stdout`), MQTT
(:mod:`.mqtt`, with Home Assistant discovery in :mod:`.discovery`) and the fan-out the daemon publishes through
(:mod:`.fanout`)."""
