"""Audit operations with side effects of their own: verifying the chain (and remembering the result)."""
from audit.models import ChainVerification
from audit.recorder import record
from audit.storage import read_json_lines
from audit.verify import verify_database, verify_records


def verify_audit_chain(*, actor, using="default"):
    """Verify the database chain, store the result for the badge, and audit the verification."""
    result = verify_database(using)
    ChainVerification.objects.using(using).create(
        ok=result.ok, events_checked=result.events_checked, last_sequence=result.last_sequence,
        first_broken_sequence=result.first_broken_sequence, problem=result.problem, message=result.message,
        duration_seconds=result.duration_seconds,
    )
    record(
        "audit.chain_verified", actor=actor, outcome="success" if result.ok else "failure",
        failure_reason=result.message,
        details={"events_checked": result.events_checked, "first_broken_sequence": result.first_broken_sequence,
                 "problem": result.problem},
    )
    return result


def verify_json_lines_file(path):
    return verify_records(read_json_lines(path))


def latest_verification():
    return ChainVerification.objects.order_by("-verified_at").first()


def verify_audit_chain_job():
    """RQ job (scheduled daily and from the "Verify now" button)."""
    return verify_audit_chain(actor="worker").summary()
