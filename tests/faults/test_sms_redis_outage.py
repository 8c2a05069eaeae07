"""Texts arrive while Redis is down: Twilio still gets its answer, the texts are stored, and once Redis
is back the requeue job has each one processed, and answered, exactly once.

The webhook's processing task cannot be queued during the outage (the after-commit send fails, and is
allowed to); the beat's requeue job finds the texts left waiting and queues them again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from backend.concerns.models import Concern, InboundSms
from notifications.models import Delivery
from tests.faults.test_redis_outage import _redis_start, _redis_stop
from tests.support.fake_twilio import FakeTwilio, inbound_params, sign
from tests.support.processes import Proc, beat_cmd, process_env, running, wait_for, worker_cmd

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

BASE = "https://candour.example"
TRUST_NUMBER = "+447700900101"


def test_texts_stored_while_redis_is_down_are_each_processed_once(demo: None, tmp_path: Path, settings: Any) -> None:
    settings.CANDOUR_BASE_URL = BASE
    settings.TWILIO_AUTH_TOKEN = "test-token"
    # The webhook (this process) sets each text's retry time; the beat (below) acts on it.
    settings.CANDOUR_SMS_REQUEUE_AFTER_SECONDS = 2
    with FakeTwilio() as twilio:
        env = process_env(
            CANDOUR_REQUEUE_SECONDS="1",
            CANDOUR_SMS_REQUEUE_AFTER_SECONDS="2",
            CANDOUR_SWEEP_SECONDS="3600",
            TWILIO_API_BASE_URL=twilio.base_url,
            TWILIO_STATUS_CALLBACK="0",
        )
        procs = [
            Proc("worker", worker_cmd(), env, tmp_path / "worker.log"),
            Proc("beat", beat_cmd(tmp_path / "beat-schedule"), env, tmp_path / "beat.log"),
        ]
        with running(procs):
            time.sleep(3)  # let the worker connect before the outage
            _redis_stop()
            try:
                for i in range(3):
                    params = inbound_params(from_=f"+44770090061{i}", to=TRUST_NUMBER, body=f"Outage text {i}")
                    signature = sign("test-token", BASE + "/twilio/sms/", params)
                    for _ in range(2):  # and Twilio retries each
                        response = Client().post(
                            "/twilio/sms/",
                            data=urlencode(params),
                            content_type="application/x-www-form-urlencoded",
                            HTTP_X_TWILIO_SIGNATURE=signature,
                        )
                        assert response.status_code == 200
            finally:
                _redis_start()
            assert InboundSms.objects.filter(processed_at=None).count() == 3

            def all_answered() -> bool:
                return len(twilio.messages) >= 3 and not InboundSms.objects.filter(processed_at=None).exists()

            try:
                wait_for(all_answered, timeout=120, what="every text to be processed and answered")
            except AssertionError:
                raise AssertionError(procs[0].output()[-3000:]) from None
            time.sleep(3)  # a duplicate task, if there were one, would have run by now
    assert Concern.objects.count() == 3
    assert len(twilio.messages) == 3
    assert all("your concern is received" in m["Body"] for m in twilio.messages)
    assert Delivery.objects.filter(channel="sms").count() == 3
    assert set(InboundSms.objects.values_list("payload", flat=True)) == {""}
