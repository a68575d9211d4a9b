"""The `videofactory` command line."""
