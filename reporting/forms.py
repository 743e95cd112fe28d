"""Report parameters (shape only)."""

from datetime import timedelta

from django import forms


class CapacityForm(forms.Form):
    days = forms.IntegerField(label="Working days ahead", min_value=1, max_value=30, initial=5)
    weeks = forms.IntegerField(label="Weeks of history for the forecast", min_value=1, max_value=12, initial=4)
    hours = forms.FloatField(label="Productive hours per FTE per day", min_value=1, max_value=12, initial=7.5)
    shrinkage = forms.IntegerField(label="Shrinkage (%)", min_value=0, max_value=90, initial=30,
                                   help_text="Leave, training, meetings: time an FTE is paid but not on work items.")


HISTORY_DEFAULT_DAYS = 28
HISTORY_MAX_DAYS = 366


class HistoryForm(forms.Form):
    """The history report's range and scope. Agents offered: those whose scorecards the
    user may open (reporting.selectors.agents_visible_to)."""

    since = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))
    grain = forms.ChoiceField(label="By", choices=[("day", "Day"), ("week", "Week")], initial="day")
    queue = forms.ModelMultipleChoiceField(label="Queues", queryset=None, required=False,
                                           help_text="None chosen: every queue.")
    team = forms.ModelChoiceField(label="Team", queryset=None, required=False, empty_label="All teams")
    agent = forms.ModelChoiceField(label="Agent", queryset=None, required=False, empty_label="All agents")

    def __init__(self, data=None, *, user, today, **kwargs):
        from allocation.models import Queue, Team
        from reporting.selectors import agents_visible_to

        defaults = {"since": today - timedelta(days=HISTORY_DEFAULT_DAYS - 1), "until": today, "grain": "day"}
        if data is not None:  # a link that names only an agent or a queue gets the default range
            data = data.copy()
            for name, value in defaults.items():
                if not data.get(name):
                    data[name] = value.isoformat() if hasattr(value, "isoformat") else value
        super().__init__(data, **kwargs)
        self.fields["queue"].queryset = Queue.objects.order_by("name")
        self.fields["queue"].widget.attrs["size"] = 4
        self.fields["team"].queryset = Team.objects.order_by("name")
        self.fields["agent"].queryset = agents_visible_to(user)
        self.fields["agent"].label_from_instance = lambda agent: agent.user.get_full_name() or agent.user.username
        for name, value in defaults.items():
            self.fields[name].initial = value

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until:
            if since > until:
                self.add_error("until", "The end comes before the start.")
            elif (until - since).days + 1 > HISTORY_MAX_DAYS:
                self.add_error("until", f"Choose at most {HISTORY_MAX_DAYS} days.")
        if data.get("team") and data.get("agent"):
            self.add_error("agent", "Choose a team or an agent, not both.")
        return data

    def initial_values(self) -> dict:
        """The defaults as cleaned data, for a page opened without parameters."""
        return {"since": self.fields["since"].initial, "until": self.fields["until"].initial, "grain": "day",
                "queue": [], "team": None, "agent": None}

    def scope(self):
        """The report scope of a valid form (or of the defaults when unbound)."""
        from reporting.history import Scope

        data = self.cleaned_data if self.is_bound else self.initial_values()
        queues = tuple(sorted(q.pk for q in data["queue"])) or None
        return Scope(since=data["since"], until=data["until"], grain=data["grain"] or "day", queue_ids=queues,
                     team=data["team"], agent_id=data["agent"].pk if data["agent"] else None)


class LiveAgentsForm(forms.Form):
    """The live agents view's filters and order: teams, queues and skills among those of the
    agents the user oversees (reporting.agents_now.filter_choices)."""

    team = forms.ModelChoiceField(label="Team", queryset=None, required=False, empty_label="All teams")
    queue = forms.ModelChoiceField(label="Queue", queryset=None, required=False, empty_label="Any queue",
                                   help_text="Agents the queue's teams and skills admit.")
    skill = forms.ModelChoiceField(label="Skill", queryset=None, required=False, empty_label="Any skill")
    state = forms.ChoiceField(label="State", required=False)
    sort = forms.ChoiceField(label="Order by", required=False)

    def __init__(self, data=None, *, user, **kwargs):
        from reporting import agents_now

        super().__init__(data, **kwargs)
        teams, queues, skills = agents_now.filter_choices(user)
        self.fields["team"].queryset, self.fields["queue"].queryset, self.fields["skill"].queryset = \
            teams, queues, skills
        self.fields["state"].choices = [("", "Any state"), *agents_now.STATES]
        self.fields["sort"].choices = agents_now.SORT_LABELS

    def filters(self):
        """The filters of a valid form (none when unbound), and the order."""
        from reporting.agents_now import AgentFilters

        data = self.cleaned_data if self.is_bound else {}
        ids = {name: data[name].pk if data.get(name) else None for name in ("team", "queue", "skill")}
        filters = AgentFilters(team_id=ids["team"], queue_id=ids["queue"], skill_id=ids["skill"],
                               state=data.get("state") or "")
        return filters, data.get("sort") or "name"


class AgentPresenceForm(forms.Form):
    """A supervisor sets an agent away or offline, with one of the admins' reasons: one
    choice ("away", or "away:<reason id>")."""

    presence = forms.ChoiceField(label="Set to")

    def __init__(self, data=None, **kwargs):
        from allocation.models import Presence
        from allocation.selectors import presence_reasons_offered

        super().__init__(data, **kwargs)
        groups = []
        for presence in (Presence.AWAY, Presence.OFFLINE):
            label = Presence(presence).label
            reasons = [(f"{presence}:{reason.pk}", f"{label} — {reason.label}")
                       for reason in presence_reasons_offered(presence)]
            groups.append((label, [(presence, f"{label} (no reason)"), *reasons]))
        self.fields["presence"].choices = groups

    def chosen(self) -> tuple[str, int | None]:
        presence, _, reason = self.cleaned_data["presence"].partition(":")
        return presence, int(reason) if reason else None


class WallboardFilterForm(forms.Form):
    """The wallboard's teams and queues (none chosen: every queue) and the wall mode's
    theme; remembered per user (reporting.services.wallboard_choice_save)."""

    teams = forms.ModelMultipleChoiceField(label="Teams", queryset=None, required=False,
                                           help_text="Their queues, and their agents by presence.")
    queues = forms.ModelMultipleChoiceField(label="Queues", queryset=None, required=False,
                                            help_text="Only these queues (else the teams', else every queue).")
    theme = forms.ChoiceField(label="Wall mode", required=False)

    def __init__(self, data=None, **kwargs):
        from allocation.models import Queue, Team
        from reporting.models import WallboardChoice

        super().__init__(data, **kwargs)
        self.fields["teams"].queryset = Team.objects.order_by("name")
        self.fields["queues"].queryset = Queue.objects.filter(is_active=True).order_by("name")
        self.fields["theme"].choices = WallboardChoice.Theme.choices
        for name in ("teams", "queues"):
            self.fields[name].widget.attrs["size"] = 4


# At most a million items, and a year of minutes: past that a threshold means nothing.
THRESHOLD_LIMITS = {"waiting": 1_000_000, "oldest_minutes": 525_600, "at_risk": 1_000_000, "breached": 1_000_000}
THRESHOLD_LABELS = {"waiting": "Waiting", "oldest_minutes": "Oldest waiting (minutes)", "at_risk": "At risk",
                    "breached": "Breached"}


class QueueThresholdsForm(forms.Form):
    """One queue's amber and red thresholds; empty: that colour never shows. Amber must be
    below red."""

    def __init__(self, data=None, *, queue, thresholds=None, **kwargs):
        super().__init__(data, prefix=f"q{queue.pk}", **kwargs)
        self.queue = queue
        for metric, limit in THRESHOLD_LIMITS.items():
            for colour in ("amber", "red"):
                name = f"{metric}_{colour}"
                self.fields[name] = forms.IntegerField(
                    label=f"{THRESHOLD_LABELS[metric]}: {colour}", required=False, min_value=0, max_value=limit,
                    initial=getattr(thresholds, name, None),
                    widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "threshold"}))

    def clean(self):
        data = super().clean()
        for metric in THRESHOLD_LIMITS:
            amber, red = data.get(f"{metric}_amber"), data.get(f"{metric}_red")
            if amber is not None and red is not None and amber >= red:
                self.add_error(f"{metric}_amber", f"Amber must be below red ({red}).")
        return data
