from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from accounts.models import UserLimits, UserPreferences


class UserLimitsInline(admin.StackedInline):
    model = UserLimits
    can_delete = True
    extra = 0
    max_num = 1


class UserPreferencesInline(admin.StackedInline):
    model = UserPreferences
    can_delete = True
    extra = 0
    max_num = 1


# The stock user admin, with each user's limits and preferences on the same page.
User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class UserWithLimitsAdmin(UserAdmin):
    inlines = (*UserAdmin.inlines, UserLimitsInline, UserPreferencesInline)
