from typing import Any

from django.core.management.base import BaseCommand

from backend.organisations.demo import DEMO_PASSWORD, demo_seed


class Command(BaseCommand):
    help = (
        "Create the fictional demo care system and a user for every role (once), and print each demo "
        "login with its one-time backup codes (topped up each run)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        result = demo_seed()
        self.stdout.write("Demo data created." if result.created else "Demo data already present.")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}), then a backup code (each works once):")
        for username, role, code in result.logins:
            codes = result.backup_codes.get(username)
            second = " ".join(codes) if codes else "no second step (optional for handlers)"
            self.stdout.write(f"  {username:<20} {role:<14} {code:<6} {second}")
