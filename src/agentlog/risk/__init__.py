"""Failure risk: how likely a session is to end failed, after every step.

features (online, O(1) per event) -> model (logistic regression as JSON, pure-Python
scoring, conformal thresholds) -> score (per step; shared by the `risk` watch detector and
`agentlog risk --replay`); history reads the log for replay and `train` (scikit-learn,
optional extra `agentlog[ml]`).
"""
