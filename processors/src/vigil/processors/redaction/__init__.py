"""Redaction: secrets and personal data masked in the telemetry that leaves the sidecar.

``masking``   what counts as a secret (by name, by shape), card numbers and e-mail addresses, and
              what is left of a masked value: :class:`~.masking.Masker`
``scorer``    the ``redaction`` scorer, which masks every span and log record after the other
              scorers have judged the raw values: :class:`~.scorer.Redactor`
``settings``  the ``VIGIL_REDACTION_*`` variables and the entry point
"""

from vigil.processors.redaction.masking import REDACTED, Masker, mask_secrets
from vigil.processors.redaction.scorer import RedactionConfig, Redactor

__all__ = ["REDACTED", "Masker", "RedactionConfig", "Redactor", "mask_secrets"]
