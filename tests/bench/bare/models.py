from django.db import models


class BareConcern(models.Model):
    """About the columns of a concern row, with none of its work: no encryption, receipt, event or clock."""

    unit = models.CharField(max_length=16)
    raiser_kind = models.CharField(max_length=10)
    identity_mode = models.CharField(max_length=12)
    themes = models.JSONField(default=list)
    urgent = models.BooleanField(default=False)
    what_happened = models.TextField()
    when_happened = models.TextField(blank=True, default="")
    desired_outcome = models.TextField(blank=True, default="")
    raiser_name = models.TextField(blank=True, default="")
    raiser_contact = models.TextField(blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"bare {self.pk}"
