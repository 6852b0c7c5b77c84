"""Elkhawaga QR pages: the Pulumi component, the Worker bundle, the local runtime and the sync tools."""
