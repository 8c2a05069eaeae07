"""What the public check of a certificate of disclosure takes (backend.concerns.disclosure)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from backend.concerns.disclosure import CERTIFICATE_MAX_CHARS
from backend.concerns.inputs import NARRATIVE_MAX


class DisclosureCheckInput(serializers.Serializer):
    """The public check of words against a disclosure certificate: the certificate, pasted or as its
    file (the file wins when both are given), and the words."""

    certificate = serializers.CharField(
        trim_whitespace=False,
        error_messages={
            "required": "Paste the certificate, or choose its file.",
            "blank": "Paste the certificate, or choose its file.",
        },
    )
    text = serializers.CharField(
        # Twice the narrative's limit: a browser sends each line break as two characters.
        max_length=2 * NARRATIVE_MAX,
        trim_whitespace=False,
        error_messages={
            "required": "Paste the words you wrote.",
            "blank": "Paste the words you wrote.",
            "max_length": "These words are longer than any concern Candour takes.",
        },
    )

    def to_internal_value(self, data: Any) -> Any:
        upload = data.get("certificate_file")
        if upload:
            # A certificate is a few hundred bytes: one byte past the limit is enough to tell "too large".
            raw = upload.read(CERTIFICATE_MAX_CHARS + 1)
            try:
                data = {**data, "certificate": raw.decode("utf-8-sig")}
            except UnicodeDecodeError:
                not_text = {"certificate": ["This file is not a certificate: it is not text."]}
                raise serializers.ValidationError(not_text) from None
        return super().to_internal_value(data)
