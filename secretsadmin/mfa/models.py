"""Recovery codes as a django-otp device: ten single-use codes per user, stored only as password hashes."""
import secrets
import string

from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.db import models
from django.utils import timezone
from django_otp.models import Device, ThrottlingMixin, TimestampMixin

CODE_COUNT = 10
# Crockford's base32 alphabet (digits and letters but i, l, o, u): 10 characters carry 50 random bits,
# shown as "xxxxx-xxxxx".
ALPHABET = "".join(c for c in string.digits + string.ascii_lowercase if c not in "ilou")
CODE_LENGTH = 10


class RecoveryCodeHasher(PBKDF2PasswordHasher):
    """Django's PBKDF2 hasher at a cost fit for 50-bit random codes checked up to ten at a time.

    Passwords need Django's million iterations because people choose guessable ones; these codes come from
    `secrets`, so 2**50 candidates times 100,000 iterations is out of reach offline, and a sign-in that tries
    every unused code stays well under a second.
    """

    iterations = 100_000


HASHER = RecoveryCodeHasher()


def normalise(code: str) -> str:
    """What the user typed, as stored: lower case, without the separator, spaces or look-alike letters."""
    text = "".join(str(code).split()).replace("-", "").lower()
    return text.translate(str.maketrans({"o": "0", "i": "1", "l": "1"}))


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def formatted(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"


class RecoveryCodeDevice(TimestampMixin, ThrottlingMixin, Device):
    """One per user; verifying consumes one unused code. Wrong codes are throttled like TOTP codes."""

    class Meta(Device.Meta):
        verbose_name = "recovery code set"
        constraints = [models.UniqueConstraint(fields=["user"], name="one_recovery_code_set_per_user")]

    def get_throttle_factor(self):
        return getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1)

    def remaining(self) -> int:
        return self.codes.filter(used_at__isnull=True).count()

    def replace_codes(self) -> list[str]:
        """New codes (the old ones stop working); returns them formatted, to be shown once and never stored."""
        plain = [new_code() for _ in range(CODE_COUNT)]
        self.codes.all().delete()
        RecoveryCode.objects.bulk_create(RecoveryCode(device=self, code_hash=HASHER.encode(code, HASHER.salt()))
                                         for code in plain)
        return [formatted(code) for code in plain]

    def verify_token(self, token):
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        code = normalise(token)
        matched = None
        if len(code) == CODE_LENGTH:
            for candidate in self.codes.filter(used_at__isnull=True):
                if HASHER.verify(code, candidate.code_hash):
                    matched = candidate
                    break
        # The conditional UPDATE is the claim: of two concurrent uses of one code, only one succeeds.
        if matched is not None and RecoveryCode.objects.filter(
                pk=matched.pk, used_at__isnull=True).update(used_at=timezone.now()) == 1:
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
            return True
        self.throttle_increment(commit=True)
        return False


class RecoveryCode(models.Model):
    device = models.ForeignKey(RecoveryCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=128)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"recovery code {self.pk} ({'used' if self.used_at else 'unused'})"

