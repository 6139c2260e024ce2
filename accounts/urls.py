from django.urls import path

from accounts import api

urlpatterns = [
    path("register/", api.RegisterView.as_view(), name="api-register"),
    path("token/", api.TokenView.as_view(), name="api-token"),
    path("token/refresh/", api.RefreshView.as_view(), name="api-token-refresh"),
    path("logout/", api.LogoutView.as_view(), name="api-logout"),
]
