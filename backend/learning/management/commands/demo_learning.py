from typing import Any

from django.core.management.base import BaseCommand

from backend.learning.demo import learning_demo_seed


class Command(BaseCommand):
    help = "Seed a few 'you said, we did' summaries and a lesson for the demo (once, after demo_history)."

    def handle(self, *args: Any, **options: Any) -> None:
        written = learning_demo_seed()
        self.stdout.write(f"Demo learning: {written} summaries written." if written else "Demo learning present.")
