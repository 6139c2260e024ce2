"""Load, soak and capacity tools for the socket layer, and the peers they compare to."""
