# covers: pydantic BaseModel inputs and outputs
# expect-source: anchor
# expect-exit: 0
# expect: {"type": "Invoice", "value": {"order": {"item": "pen", "quantity": 3, "tags": ["office"]}, "total": 4.5}}
"""Pydantic models as task inputs and outputs."""

import json

import flyte
from pydantic import BaseModel

env = flyte.TaskEnvironment(name="pydantic_models")


class Order(BaseModel):
    item: str
    quantity: int
    tags: list[str] = []


class Invoice(BaseModel):
    order: Order
    total: float


@env.task
async def bill(order: Order, unit_price: float) -> Invoice:
    return Invoice(order=order, total=order.quantity * unit_price)


if __name__ == "__main__":
    flyte.init()
    inv = flyte.run(bill, order=Order(item="pen", quantity=3, tags=["office"]), unit_price=1.5).outputs()[0]
    print("RESULT " + json.dumps({"type": type(inv).__name__, "value": inv.model_dump()}, sort_keys=True))
