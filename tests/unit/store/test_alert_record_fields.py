"""Alert records written before the lifecycle fields existed still read back."""

from __future__ import annotations

from outlast.errors import ErrorSeverity
from outlast.store import Alert
from outlast.store.mongo._mongo_codec import from_mongo, to_mongo

OLD_FIELDS = {
    "alert_type": "error_rate_high",
    "severity": "high",
    "title": "t",
    "message": "m",
    "created_at": 1.0,
    "updated_at": 2.0,
    "status": "active",
    "resolved_at": None,
    "occurrences": 1,
    "escalation_level": 0,
    "source": None,
}


def test_an_older_alert_document_reads_with_empty_lifecycle_fields() -> None:
    """A document without labels, acknowledgement or notifications reads as an alert with
    none of them."""
    alert = Alert.from_document({**OLD_FIELDS, "details": {}, "id": "a"})
    assert (alert.labels, alert.notifications, alert.acknowledged_at) == ({}, [], None)
    assert alert.severity is ErrorSeverity.HIGH


def test_an_older_mongo_alert_document_reads() -> None:
    """MongoDB's codec reads a stored alert lacking the newer JSON fields."""
    old = {**OLD_FIELDS, "details": "{}", "_id": "a", "_rev": 3}
    alert = from_mongo(Alert, old)
    assert alert.id == "a"
    assert alert.notifications == []
    assert from_mongo(Alert, to_mongo(alert)) == alert
