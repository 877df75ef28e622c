"""Guardrails: input guards (injection, PII, topic, politics, competitors), the ingest-time
document scanner, output guards, the policy that configures them, and the red team.

Entry points: :func:`~citeline.guard.policy.load_policy`, :class:`~citeline.guard.runner.GuardRunner`
(what :class:`~citeline.answer.service.AskService` runs), :func:`~citeline.guard.redteam.run_redteam`.
"""
