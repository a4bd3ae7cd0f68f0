"""A FastAPI app on duplex, driven by httpx: JSON routes with path and query parameters, dependencies
(``Depends``), JSON request bodies validated by pydantic, FastAPI's own 4xx answers, and the app
given as "module:attribute" text."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from pydantic import BaseModel

from asgi.helpers import Journal, Site


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


# Dependencies at module level: FastAPI resolves the (string) annotations in the module's globals.
def pagination(limit: int = 10, offset: int = 0) -> dict[str, int]:
    return {"limit": limit, "offset": offset}


def current_user(x_user: Annotated[str | None, Header()] = None) -> str:
    if x_user is None:
        raise HTTPException(status_code=401, detail="who are you?")
    return x_user


def make_app(journal: Journal) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(
        item_id: int, page: Annotated[dict[str, int], Depends(pagination)], q: str | None = None
    ) -> dict[str, object]:
        return {"item_id": item_id, "q": q, "page": page}

    @app.get("/files/{name}")
    def read_file(name: str, request: Request) -> dict[str, object]:
        # A plain def: FastAPI runs it on a worker thread, off the server's loop.
        journal.note("sync route thread", threading.current_thread().name)
        return {"name": name, "path": request.url.path}

    @app.post("/items", status_code=201)
    async def create_item(item: Item, user: Annotated[str, Depends(current_user)]) -> dict[str, object]:
        journal.note("created", item.name)
        return {"user": user, "item": item.model_dump(), "double": item.price * 2}

    return app


def test_path_and_query_parameters_and_a_dependency(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], journal: Journal
) -> None:
    http = http_client(serve_app(make_app(journal)))
    response = http.get("/items/42", params={"q": "café au lait", "limit": 5})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"item_id": 42, "q": "café au lait", "page": {"limit": 5, "offset": 0}}
    # the dependency's defaults
    assert http.get("/items/7").json() == {"item_id": 7, "q": None, "page": {"limit": 10, "offset": 0}}


def test_percent_encoded_path_parameter_reaches_the_route_decoded(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], journal: Journal
) -> None:
    http = http_client(serve_app(make_app(journal)))
    response = http.get("/files/r%C3%A9sum%C3%A9%20v2.txt")
    assert response.status_code == 200
    assert response.json() == {"name": "résumé v2.txt", "path": "/files/résumé v2.txt"}
    assert journal.wait("sync route thread") != threading.main_thread().name


def test_invalid_path_parameter_gets_fastapis_422(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], journal: Journal
) -> None:
    http = http_client(serve_app(make_app(journal)))
    response = http.get("/items/forty-two")
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["path", "item_id"]


def test_post_json_body(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], journal: Journal
) -> None:
    http = http_client(serve_app(make_app(journal)))
    item = {"name": "kettle", "price": 21.5, "tags": ["kitchen", "tea"]}
    response = http.post("/items", json=item, headers={"X-User": "ada"})
    assert response.status_code == 201
    assert response.json() == {"user": "ada", "item": item, "double": 43.0}
    assert journal.values("created") == ["kettle"]


def test_dependency_refusal_and_invalid_body(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], journal: Journal
) -> None:
    http = http_client(serve_app(make_app(journal)))
    refused = http.post("/items", json={"name": "kettle", "price": 1})
    assert refused.status_code == 401
    assert refused.json() == {"detail": "who are you?"}
    invalid = http.post("/items", json={"name": "kettle", "price": "free"}, headers={"X-User": "ada"})
    assert invalid.status_code == 422
    assert [error["loc"] for error in invalid.json()["detail"]] == [["body", "price"]]
    not_json = http.post(
        "/items", content=b"{not json", headers={"X-User": "ada", "Content-Type": "application/json"}
    )
    assert not_json.status_code == 422
    assert journal.values("created") == []
    # the same connection still serves
    assert http.get("/items/1").status_code == 200


def test_unknown_route_and_wrong_method_are_answered_by_the_app(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client], journal: Journal
) -> None:
    http = http_client(serve_app(make_app(journal)))
    missing = http.get("/nowhere")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}  # FastAPI's answer, not the web server's
    wrong = http.delete("/items/1")
    assert wrong.status_code == 405
    assert wrong.json() == {"detail": "Method Not Allowed"}


def test_app_given_as_module_attribute_text(
    serve_app: Callable[..., Site], http_client: Callable[..., httpx.Client]
) -> None:
    site = serve_app("asgi.served_app:app")
    http = http_client(site)
    assert http.get("/hello", params={"name": "text"}).json() == {"hello": "text"}
