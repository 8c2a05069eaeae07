from django.apps import AppConfig


class OversightConfig(AppConfig):
    name = "backend.oversight"
    label = "oversight"

    def ready(self) -> None:
        # Oversight is downstream of concerns and learns of changes from what they write: the
        # figures follow from every Event flushed (in the same statement as intake's), and the
        # alerts from every sidelining a use case tells of. Concerns never import oversight.
        from backend.concerns.facts import Sidelined
        from backend.concerns.models import Event
        from backend.config.db import facts_handle, rows_derive
        from backend.oversight.figures import figure_deltas
        from backend.oversight.services import alerts_for_sidelined

        rows_derive(Event, figure_deltas)
        facts_handle(Sidelined, alerts_for_sidelined)
