"""Settings shared by every test directory.

Hypothesis' per-example deadline (200 ms) measures the machine's load, not our code: on a loaded
2-core CI machine it fails tests whose properties hold. Speed is checked by bench/, never here.
"""
from hypothesis import settings

settings.register_profile("dind-cluster", deadline=None)
settings.load_profile("dind-cluster")
