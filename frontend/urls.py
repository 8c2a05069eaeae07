from django.contrib.auth import views as auth_views
from django.urls import path

from frontend import disclosure_views, oversight_views, placing_views, raise_views, sign_in_views, views

app_name = "frontend"
urlpatterns = [
    path("", views.home, name="home"),
    path("raise/", raise_views.raise_start_page, name="raise"),
    path("raise/start/", raise_views.raise_begin_page, name="raise_begin"),
    path("raise/check/", raise_views.raise_check_page, name="raise_check"),
    path("raise/cancel/", raise_views.raise_cancel_page, name="raise_cancel"),
    path("raise/<slug:slug>/", raise_views.raise_step_page, name="raise_step"),
    path("follow-up/", views.concern_follow_up_page, name="follow_up"),
    path("follow-up/concern/", views.follow_up_concern_page, name="follow_up_concern"),
    path("follow-up/concern/message/", views.follow_up_message_page, name="follow_up_message"),
    path("follow-up/concern/escalate/", views.follow_up_escalate_page, name="follow_up_escalate"),
    path("follow-up/concern/withdraw/", views.follow_up_withdraw_page, name="follow_up_withdraw"),
    path("follow-up/concern/reopen/", views.follow_up_reopen_page, name="follow_up_reopen"),
    path("follow-up/concern/speak-up-again/", views.follow_up_speak_up_again_page, name="follow_up_speak_up_again"),
    path("disclosure/verify/", disclosure_views.disclosure_verify_page, name="disclosure_verify"),
    path("disclosure/certificate/", disclosure_views.disclosure_certificate_download, name="disclosure_certificate"),
    path(".well-known/candour-disclosure-keys.json", disclosure_views.disclosure_keys, name="disclosure_keys"),
    path("figures/", oversight_views.public_figures_page, name="public_figures"),
    path("figures/<str:code>/", oversight_views.public_figures_organisation_page, name="public_figures_organisation"),
    path("sign-in/", sign_in_views.staff_sign_in_page, name="login"),
    path("sign-in/code/", sign_in_views.sign_in_code_page, name="sign_in_code"),
    path("sign-in/set-up/", sign_in_views.sign_in_set_up_page, name="sign_in_set_up"),
    path("sign-out/", auth_views.LogoutView.as_view(), name="logout"),
    path("oversight/", oversight_views.oversight_dashboard_page, name="oversight_dashboard"),
    path("oversight/alerts/", views.alerts_page, name="alerts"),
    path("oversight/alerts/<int:alert_id>/resolve/", views.alert_resolve_page, name="alert_resolve"),
    path("oversight/trends/<str:code>/", oversight_views.trends_page, name="trends"),
    path("oversight/signals/", views.signals_page, name="signals"),
    path("oversight/signals/<int:signal_id>/", views.signal_page, name="signal"),
    path("oversight/signals/<int:signal_id>/review/", views.signal_review_page, name="signal_review"),
    path("oversight/signals/<int:signal_id>/close/", views.signal_close_page, name="signal_close"),
    path("account/notifications/", views.notification_settings_page, name="notification_settings"),
    path("account/two-step/", sign_in_views.two_step_page, name="two_step"),
    path("inbox/", views.inbox_page, name="inbox"),
    path("inbox/<str:reference>/", views.concern_case_page, name="case"),
    path("inbox/<str:reference>/place/", placing_views.concern_sms_place_page, name="case_place"),
    path("inbox/<str:reference>/<slug:action>/", views.concern_action_page, name="action"),
]
