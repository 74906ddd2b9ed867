"""Errors the services raise, each with a stable code that the edges translate for people."""

from __future__ import annotations

from services.plans import CannotPay


class ServiceError(Exception):
    """Base of every error a person may be told about."""

    code = "service_error"


class AccountNotFound(ServiceError):
    code = "account_not_found"


class QuoteNotFound(ServiceError):
    code = "quote_not_found"


class QuoteAlreadyUsed(ServiceError):
    """The quote was accepted or cancelled before: a repeated or stale tap."""

    code = "quote_already_used"


class QuoteExpired(ServiceError):
    code = "quote_expired"


class CannotAfford(ServiceError):
    """Neither today's quota nor the credit balance covers the batch."""

    code = "cannot_afford"

    def __init__(self, decision: CannotPay) -> None:
        super().__init__(f"needs {decision.credits_needed} credits, balance is {decision.balance}")
        self.decision = decision


class InsufficientBalance(ServiceError):
    """A debit that would take the balance below zero."""

    code = "insufficient_balance"


class BatchNotFinished(ServiceError):
    code = "batch_not_finished"


class InvalidAmount(ServiceError):
    code = "invalid_amount"


class TierUnavailable(ServiceError):
    """The tier's engine cannot run on this install (its model is missing): nothing is charged."""

    code = "tier_unavailable"
