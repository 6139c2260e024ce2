"""Pages: login, register, logout (session auth for the browser UI)."""

from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model, login, password_validation
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
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


#: What a blank field is called in the page's words.
BLANK = {"username": "Choose a username.", "password": "Choose a password."}


def register_errors(username: str, password: str) -> dict[str, list[str]]:
    """Every field's problems at once, in words: {field: [sentence, ...]}.

    The serializer stops before the password check when the username is wrong; the page
    checks the password anyway, so the user fixes both in one go.
    """
    from accounts.serializers import RegisterSerializer

    serializer = RegisterSerializer(data={"username": username, "password": password})
    if serializer.is_valid():
        return {}
    errors: dict[str, list[str]] = {}
    for field, details in serializer.errors.items():
        messages = []
        for detail in details:
            code = getattr(detail, "code", "")
            messages.append(
                BLANK.get(field, str(detail))
                if code in ("blank", "required")
                else str(detail)
            )
        errors[field if field in BLANK else ""] = messages
    if password and "password" not in errors:
        User = get_user_model()
        try:
            password_validation.validate_password(password, User(username=username))
        except ValidationError as exc:
            errors["password"] = list(exc.messages)
    return errors


@never_cache
@require_http_methods(["GET", "POST"])
def register(request):
    """The sign-up page. After a failed try every field says what is wrong with it, and
    both fields keep what was typed (the password too: this page is never cached)."""
    errors: dict[str, list[str]] = {}
    username = password = ""
    if request.method == "POST":
        username = request.POST.get("username", "").strip()
        password = request.POST.get("password", "")
        errors = register_errors(username, password)
        if not errors:
            try:
                user = user_create(username=username, password=password)
            except ValidationError as exc:
                errors = {"": list(exc.messages)}
            else:
                login(
                    request, user, backend="django.contrib.auth.backends.ModelBackend"
                )
                return redirect("/")
    return render(
        request,
        "accounts/register.html",
        {
            "errors": errors,
            "username_errors": errors.get("username", []),
            "password_errors": errors.get("password", []),
            "other_errors": errors.get("", []),
            "username": username,
            "password": password,
        },
    )
