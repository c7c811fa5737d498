"""The steps of `up` and friends: each small, each run inside a progress line."""
