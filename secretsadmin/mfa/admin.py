"""Admin pages for second-factor devices: who has one and when it was used; never a key, code or hash."""
from django.contrib import admin
from django_otp.plugins.otp_totp.models import TOTPDevice

from secretsadmin.mfa.models import RecoveryCodeDevice
from secretsadmin.read_only_admin import ReadOnlyAdmin

# otp_totp registers an admin that shows each TOTP key (and a QR code of it) to anyone who may view devices.
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


class ReadOnlyDeviceAdmin(ReadOnlyAdmin):
    """A list to look at: devices are made by their owner's enrolment and removed by the audited reset
    (Two-factor -> Users), so that every change leaves an audit event."""

    list_display = ("user", "name", "confirmed", "created_at", "last_used_at", "throttling_failure_count")
    list_filter = ("confirmed",)
    search_fields = ("user__username",)
    fields = list_display
    readonly_fields = list_display

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user")


admin.site.register(TOTPDevice, ReadOnlyDeviceAdmin)
admin.site.register(RecoveryCodeDevice, ReadOnlyDeviceAdmin)
