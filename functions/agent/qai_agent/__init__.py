"""The coding agent: a Claude tool loop that builds an app in a sandbox."""
