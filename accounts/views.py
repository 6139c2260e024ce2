"""Pages: login, register, logout (session auth for the browser UI)."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.services import user_create
from accounts.throttling import LoginThrottleFormMixin


class LoginForm(LoginThrottleFormMixin, AuthenticationForm):
    """The sign-in form; past LOGIN_THROTTLE it says so (and the page is a 429)."""


class AdminLoginForm(LoginThrottleFormMixin, AdminAuthenticationForm):
    """The admin's sign-in form, throttled alike (accounts.admin installs it)."""


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True
    authentication_form = LoginForm


class LogoutView(auth_views.LogoutView):
    """POST only (Django 5); the user_logged_out signal closes the user's sockets."""


@require_http_methods(["GET", "POST"])
def register(request):
    errors: list[str] = []
    if request.method == "POST":
        username = request.POST.get("username", "").strip()
        password = request.POST.get("password", "")
        from accounts.serializers import RegisterSerializer

        serializer = RegisterSerializer(
            data={"username": username, "password": password}
        )
        if serializer.is_valid():
            try:
                user = user_create(username=username, password=password)
            except ValidationError as exc:
                errors = list(exc.messages)
            else:
                login(
                    request, user, backend="django.contrib.auth.backends.ModelBackend"
                )
                return redirect("/")
        else:
            errors = [
                f"{k}: {' '.join(map(str, v))}" for k, v in serializer.errors.items()
            ]
    return render(request, "accounts/register.html", {"errors": errors})
