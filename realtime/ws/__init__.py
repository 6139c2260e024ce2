"""Socket plumbing every app stands on. Never imports an app or the project's assembly."""
