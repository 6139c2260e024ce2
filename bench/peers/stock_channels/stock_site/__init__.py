"""The stock Channels peer: the tutorial chat consumer, nothing added."""
