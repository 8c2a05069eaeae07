from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from backend.api import oversight_views, return_views, views

app_name = "api"
urlpatterns = [
    path("v1/concerns/", views.ConcernListApi.as_view(), name="concern-list"),
    path("v1/concerns/raise/", views.ConcernRaiseApi.as_view(), name="concern-raise"),
    path("v1/concerns/<str:reference>/", views.ConcernDetailApi.as_view(), name="concern-detail"),
    path("v1/concerns/<str:reference>/acknowledge/", views.ConcernAcknowledgeApi.as_view(), name="concern-acknowledge"),
    path(
        "v1/concerns/<str:reference>/start-review/", views.ConcernStartReviewApi.as_view(), name="concern-start-review"
    ),
    path("v1/concerns/<str:reference>/feedback/", views.ConcernGiveFeedbackApi.as_view(), name="concern-feedback"),
    path("v1/concerns/<str:reference>/close/", views.ConcernCloseApi.as_view(), name="concern-close"),
    path("v1/concerns/<str:reference>/reopen/", views.ConcernReopenApi.as_view(), name="concern-reopen"),
    path("v1/concerns/<str:reference>/messages/", views.ConcernMessageApi.as_view(), name="concern-message"),
    path("v1/concerns/<str:reference>/notes/", views.ConcernNotesApi.as_view(), name="concern-notes"),
    path("v1/concerns/<str:reference>/assign/", views.ConcernAssignApi.as_view(), name="concern-assign"),
    path("v1/concerns/<str:reference>/actions/", views.ConcernActionsApi.as_view(), name="concern-actions"),
    path("v1/concerns/<str:reference>/actions/done/", views.ConcernActionDoneApi.as_view(), name="concern-action-done"),
    path("v1/concerns/<str:reference>/place/", views.ConcernSmsPlaceApi.as_view(), name="concern-place"),
    path(
        "v1/concerns/<str:reference>/classification/",
        views.ConcernReclassifyApi.as_view(),
        name="concern-classification",
    ),
    path("v1/returns/quarterly/", return_views.QuarterlyReturnApi.as_view(), name="return-quarterly"),
    path("v1/concerns/<str:reference>/conflicts/", views.ConcernConflictsApi.as_view(), name="concern-conflicts"),
    path("v1/concerns/<str:reference>/identity/", views.ConcernIdentityApi.as_view(), name="concern-identity"),
    path("v1/oversight/concerns/", views.OversightConcernListApi.as_view(), name="oversight-concerns"),
    path("v1/oversight/dashboard/", oversight_views.OversightDashboardApi.as_view(), name="oversight-dashboard"),
    path("v1/public/figures/", oversight_views.PublicFiguresQuarterApi.as_view(), name="public-figures"),
    path(
        "v1/public/figures/<str:code>/",
        oversight_views.PublicFiguresOrganisationApi.as_view(),
        name="public-figures-organisation",
    ),
    path("v1/public/concerns/<str:reference>/", views.PublicConcernStatusApi.as_view(), name="public-concern"),
    path("v1/concerns/<str:reference>/escalate/", views.ConcernEscalateApi.as_view(), name="concern-escalate"),
    path("v1/concerns/<str:reference>/pause/", views.ConcernPauseApi.as_view(), name="concern-pause"),
    path("v1/concerns/<str:reference>/resume/", views.ConcernResumeApi.as_view(), name="concern-resume"),
    path("v1/alerts/", views.AlertListApi.as_view(), name="alert-list"),
    path("v1/alerts/<int:alert_id>/resolve/", views.AlertResolveApi.as_view(), name="alert-resolve"),
    path("v1/signals/", views.SignalListApi.as_view(), name="signal-list"),
    path("v1/signals/<int:signal_id>/review/", views.SignalReviewApi.as_view(), name="signal-review"),
    path("v1/signals/<int:signal_id>/close/", views.SignalCloseApi.as_view(), name="signal-close"),
    path("v1/follow-up/escalate/", views.FollowUpEscalateApi.as_view(), name="follow-up-escalate"),
    path("v1/follow-up/", views.FollowUpStatusApi.as_view(), name="follow-up"),
    path("v1/follow-up/messages/", views.FollowUpMessageApi.as_view(), name="follow-up-message"),
    path("v1/follow-up/withdraw/", views.FollowUpWithdrawApi.as_view(), name="follow-up-withdraw"),
    path("v1/follow-up/reopen/", views.FollowUpReopenApi.as_view(), name="follow-up-reopen"),
    path("v1/follow-up/speak-up-again/", views.FollowUpSpeakUpAgainApi.as_view(), name="follow-up-speak-up-again"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI sets inline styles: the docs page alone allows them; its script comes from a file.
    path(
        "docs/",
        csp_update({"style-src": [SELF, UNSAFE_INLINE]})(SpectacularSwaggerSplitView.as_view(url_name="api:schema")),
        name="docs",
    ),
]
