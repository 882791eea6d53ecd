"""The page on the device (``--http HOST:PORT``, docs/http.md): live view, events with their clips, labelling into
the dataset. Standard library only (http.server), on threads of its own: the frame loop hands over references and
never waits for a viewer."""
