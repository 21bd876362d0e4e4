"""Drives the Harbor double with Harbor's own swagger-generated client (PyPI harbor-api-client).

Every answer is checked against the generated models before the client deserializes it: each JSON key
must be a property of the model (none unknown) and each value must have the model's type, recursively.
Prints one JSON line per step ({"step", "ok", ...}); exits 1 on the first failure, saying what differed.
Environment: the stack's (REGCRED_STACK_HARBOR_*, REGCRED_STACK_CA) and HARBOR_SUFFIX for unique names.
"""

import datetime
import json
import os
import re
import sys

import harbor_client
from harbor_client import models
from harbor_client.rest import ApiException

PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": (int, float), "object": object}


def check(value, klass, path, problems):
    """Appends to problems every way `value` (parsed JSON) does not fit swagger type `klass`."""
    if value is None:
        return
    if klass.startswith("list["):
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, v in enumerate(value):
            check(v, klass[5:-1], f"{path}[{i}]", problems)
        return
    if klass.startswith("dict("):
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object, got {type(value).__name__}")
            return
        inner = re.match(r"dict\(([^,]*), (.*)\)", klass).group(2)
        for k, v in value.items():
            check(v, inner, f"{path}.{k}", problems)
        return
    if klass in ("datetime", "date"):
        if not isinstance(value, str):
            problems.append(f"{path}: expected a date-time string, got {value!r}")
            return
        try:
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            problems.append(f"{path}: not an RFC 3339 date-time: {value!r}")
        return
    if klass in PRIMITIVES:
        want = PRIMITIVES[klass]
        if klass == "int" and isinstance(value, bool) or not isinstance(value, want):
            problems.append(f"{path}: expected {klass}, got {value!r}")
        return
    model = getattr(models, klass, None)
    if model is None:
        problems.append(f"{path}: unknown model {klass}")
        return
    if not isinstance(value, dict):
        problems.append(f"{path}: expected a {klass} object, got {type(value).__name__}")
        return
    by_json = {j: a for a, j in model.attribute_map.items()}
    for k, v in value.items():
        if k not in by_json:
            problems.append(f"{path}.{k}: not a property of {klass}")
            continue
        check(v, model.swagger_types[by_json[k]], f"{path}.{k}", problems)


class CheckingClient(harbor_client.ApiClient):
    """An ApiClient that checks each response body against its declared model first."""

    def deserialize(self, response, response_type):
        if response_type and response.data:
            problems = []
            check(json.loads(response.data), response_type, response_type, problems)
            if problems:
                raise AssertionError("; ".join(problems))
        return super().deserialize(response, response_type)


def main():
    sfx = os.environ["HARBOR_SUFFIX"]
    conf = harbor_client.Configuration()
    conf.host = os.environ["REGCRED_STACK_HARBOR_URL"] + "/api/v2.0"
    conf.username = os.environ["REGCRED_STACK_HARBOR_ADMIN_USER"]
    conf.password = os.environ["REGCRED_STACK_HARBOR_ADMIN_PASSWORD"]
    conf.ssl_ca_cert = os.environ["REGCRED_STACK_CA"]
    api = CheckingClient(conf)
    users = harbor_client.UserApi(api)
    projects = harbor_client.ProjectApi(api)
    robots = harbor_client.RobotApi(api)

    def step(name, ok, **facts):
        print(json.dumps({"step": name, "ok": bool(ok), **facts}), flush=True)
        if not ok:
            sys.exit(1)

    me = users.get_current_user_info()
    step("users/current", me.username == conf.username and me.sysadmin_flag is True, user_id=me.user_id)

    name = f"pyc-{sfx}"
    req = models.ProjectReq(project_name=name, metadata=models.ProjectMetadata(public="false"))
    _, status, headers = projects.create_project_with_http_info(req)
    location = headers.get("Location", "")
    step("create project", status == 201 and re.fullmatch(r"/api/v2\.0/projects/\d+", location), location=location)

    p = projects.get_project(name, x_is_resource_name=True)
    step("get project", p.name == name and p.metadata.public == "false", project_id=p.project_id)

    access = [models.Access(resource="repository", action="pull")]
    perm = models.RobotPermission(kind="project", namespace=name, access=access)
    create = models.RobotCreate(name="ci", level="project", duration=30, disable=False, permissions=[perm])
    created, status, headers = robots.create_robot_with_http_info(create)
    step(
        "create robot",
        status == 201
        and created.name == f"robot${name}+ci"
        and re.fullmatch(r"[A-Za-z0-9]{32}", created.secret or "")
        and headers.get("Location") == f"/api/v2.0/robots/{created.id}"
        and created.expires_at > 0,
        id=created.id,
    )

    fresh = robots.refresh_sec(created.id, models.RobotSec())
    step("refresh secret", re.fullmatch(r"[A-Za-z0-9]{32}", fresh.secret or "") and fresh.secret != created.secret)

    r = robots.get_robot_by_id(created.id)
    step(
        "get robot",
        r.secret is None
        and r.name == created.name
        and r.level == "project"
        and r.duration == 30
        and r.disable is False
        and r.permissions[0].namespace == name
        and r.permissions[0].access[0].action == "pull",
    )

    r.disable = True
    _, status, _ = robots.update_robot_with_http_info(created.id, r)
    step("disable robot", status == 200 and robots.get_robot_by_id(created.id).disable is True)

    listed = robots.list_robot(q=f"Level=project,ProjectID={p.project_id}")
    step("list robots", [x.name for x in listed] == [created.name] and listed[0].disable is True)

    _, status, _ = robots.delete_robot_with_http_info(created.id)
    step("delete robot", status == 200)

    try:
        robots.get_robot_by_id(created.id)
        step("robot gone", False, reason="GET after DELETE answered 200")
    except ApiException as e:
        step("robot gone", e.status == 404, status=e.status)


if __name__ == "__main__":
    main()
