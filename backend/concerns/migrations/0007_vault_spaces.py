"""Raisers' and staff members' numbers move to separate token spaces.

Until now one number had one token, whoever it belonged to: a guardian who texted a concern from the
phone their alerts go to shared a vault entry with it. Each entry is re-keyed under the space that
uses it (a number used by both becomes two entries), and every reference follows: concerns and texts
to raisers take the raiser token, staff profiles and staff alerts by text the staff token."""

from django.db import migrations, models

from backend.concerns.crypto import ContactSpace, contact_token


def _rekey(apps, schema_editor):
    VaultEntry = apps.get_model("concerns", "VaultEntry")
    Concern = apps.get_model("concerns", "Concern")
    StaffProfile = apps.get_model("organisations", "StaffProfile")
    Delivery = apps.get_model("notifications", "Delivery")
    for entry in list(VaultEntry.objects.all()):  # the vault is small: numbers that texted or get alerts
        old = entry.token
        raiser = contact_token(entry.number, space=ContactSpace.RAISER)
        staff = contact_token(entry.number, space=ContactSpace.STAFF)
        for_staff = StaffProfile.objects.filter(sms_token=old).exists()
        for_raiser = Concern.objects.filter(contact_token=old).exists() or not for_staff
        if for_staff:
            VaultEntry.objects.create(token=staff, number=entry.number, created_at=entry.created_at, space="staff")
            StaffProfile.objects.filter(sms_token=old).update(sms_token=staff)
            # Staff alerts are never private; texts to a raiser always are.
            Delivery.objects.filter(channel="sms", recipient=old, private=False).update(recipient=staff)
        Concern.objects.filter(contact_token=old).update(contact_token=raiser)
        Delivery.objects.filter(channel="sms", recipient=old).update(recipient=raiser)
        if for_raiser:
            VaultEntry.objects.filter(pk=entry.pk).update(token=raiser, space="raiser")
        else:
            VaultEntry.objects.filter(pk=entry.pk).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("concerns", "0006_event_kind_labels"),
        ("organisations", "0003_staffprofile"),
        ("notifications", "0003_plain_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="vaultentry",
            name="space",
            field=models.CharField(
                choices=[("raiser", "An SMS raiser"), ("staff", "A member of staff's alert number")],
                default="raiser",
                max_length=8,
            ),
        ),
        migrations.RunPython(_rekey, migrations.RunPython.noop),
    ]
