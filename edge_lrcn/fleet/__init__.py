"""Fleet updates over the MQTT broker: signed model bundles (keys.py), the device's state directory (state.py),
the model update checked off the frame loop (update.py), the device's control connection (control.py), the
remote settings (remote.py) and the host's ``push`` client (push.py). docs/fleet.md."""
