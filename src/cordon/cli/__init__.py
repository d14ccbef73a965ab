"""The `cordon` command."""
