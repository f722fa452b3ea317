"""Forms of the people pages: users, roles and API tokens."""

from typing import cast

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator

from clusters.models import Cluster, Role

ALL_CLUSTERS = "*"  # no cluster name has it (validators.validate_scst_name)


class UserCreateForm(forms.Form):
    username = forms.CharField(
        label="User name", max_length=150, validators=[UnicodeUsernameValidator()]
    )
    email = forms.EmailField(label="E-mail", required=False)
    password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to get a one-time invite link with which they set their own.",
    )

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("password"):
            user = get_user_model()(username=cleaned.get("username", ""))
            try:
                password_validation.validate_password(cleaned["password"], user)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return cleaned


class RoleGrantForm(forms.Form):
    """A role on one cluster, or (global admins only) on all clusters."""

    cluster = forms.ChoiceField(label="On")
    role = forms.ChoiceField(label="Role", choices=Role.choices)

    def __init__(self, data=None, *, clusters, allow_global: bool) -> None:
        super().__init__(data)
        choices = [(ALL_CLUSTERS, "all clusters")] if allow_global else []
        cast(forms.ChoiceField, self.fields["cluster"]).choices = choices + [
            (c.name, c.name) for c in clusters
        ]

    def chosen_cluster(self) -> Cluster | None:
        name = self.cleaned_data["cluster"]
        return None if name == ALL_CLUSTERS else Cluster.objects.get(name=name)


class ClusterRoleGrantForm(forms.Form):
    """On a cluster's access page: a role there for a user named by user name."""

    username = forms.CharField(label="User name", max_length=150)
    role = forms.ChoiceField(label="Role", choices=Role.choices)

    def clean_username(self):
        name = self.cleaned_data["username"]
        user = get_user_model().objects.filter(username__iexact=name, is_active=True).first()
        if user is None:
            raise forms.ValidationError(f"No active user is named {name}.")
        return user


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        label="Token name",
        max_length=100,
        help_text="What uses it, e.g. prometheus or backup-script.",
    )


class ActiveForm(forms.Form):
    active = forms.BooleanField(required=False)
    reason = forms.CharField(label="Reason", max_length=500, required=False)
