from typing import Any

from django.core.management.base import BaseCommand

from backend.oversight.demo import demo_history_seed


class Command(BaseCommand):
    help = "Seed two years of the demo care system's history (once), with its early-warning signals."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write("Demo history: two years of concerns (once; a minute or so the first time)...")
        raised = demo_history_seed(progress=self.stdout.write)
        self.stdout.write(f"Demo history: {raised} concerns raised." if raised else "Demo history already present.")
