"""`make demo DEMO_MODEL=iris`: the local edition trains a string-label classifier from a CSV (with a string
feature one-hot encoded inside the model), registers and promotes it through the CLI's `seed`, and the service
answers class names on both APIs."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from local import servers
from local.demo_models import IRIS
from local.stack import LocalStack, Ports

pytestmark = pytest.mark.slow
CLASSES = {"setosa", "versicolor", "virginica"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state = tmp_path_factory.mktemp("local-iris")
    stack = LocalStack(state_dir=state, ports=Ports.free(), workers=1, say=lambda _: None, demo=IRIS)
    stack.up()
    yield stack
    stack.down()
    servers.remove_state(state)


def test_the_served_answer_is_a_class_name(stack: LocalStack) -> None:
    url = stack.urls["service"]
    row = dict(IRIS.sample_row)
    versicolor = {**row, "sepal_length": 6.0, "petal_length": 4.5, "petal_width": 1.5, "petal_size": "medium"}
    predicted = httpx.post(f"{url}/predict", json={"instances": [row, versicolor]}).json()
    assert predicted["model"] == {"name": "iris", "version": "1", "alias": "production"}
    assert predicted["predictions"] == ["setosa", "versicolor"]

    columns = list(row)
    invoked = httpx.post(
        f"{url}/invocations", json={"dataframe_split": {"columns": columns, "data": [list(row.values())]}}
    )
    assert invoked.status_code == 200
    assert invoked.json()["predictions"] == ["setosa"]
    # A category the model never saw is the caller's input, not a server fault: one-hot encodes it as all zeros.
    unseen = httpx.post(f"{url}/predict", json={"instances": [{**row, "petal_size": "tiny"}]})
    assert unseen.status_code == 200 and unseen.json()["predictions"][0] in CLASSES


def test_the_demo_model_was_trained_by_the_cli_as_a_classifier(stack: LocalStack) -> None:
    out = stack.training(stack.urls["mlflow"], "status", "--model-name", IRIS.model_name, "--json")
    versions = json.loads(out.strip().splitlines()[-1])["versions"]
    assert [v["version"] for v in versions] == ["1"]
    assert versions[0]["estimator"] == "LogisticRegression"
    assert set(versions[0]["metrics"]) >= {"accuracy", "f1_macro", "log_loss", "roc_auc"}
