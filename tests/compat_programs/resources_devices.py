# covers: Resources, GPU, TPU, AMD_GPU, HABANA_GAUDI, Neuron, Device, Resources(gpu="T4:1") via override, shm, disk
# expect-source: anchor
# expect-exit: 0
# expect: {"gpu": ["A100", 2], "tpu": ["V5P", "2x2x1"]}
# expect: {"all_devices": true, "kinds": ["A100", "V5P", "MI300X", "Gaudi1", "Inf2"]}
# expect: {"cpu": [1, 2], "disk": "10Gi", "memory": ["1Gi", "2Gi"]}
# expect: {"out": [1, 2]}
# ours-differs: a task asking for GPUs this machine lacks fails with AcceleratorUnavailableError (the anchor ignores them; FLYTE_GPU_FALLBACK=cpu opts out)
# ours-expect-exit: nonzero
# ours-expect: {"gpu": ["A100", 2], "tpu": ["V5P", "2x2x1"]}
# ours-expect: {"all_devices": true, "kinds": ["A100", "V5P", "MI300X", "Gaudi1", "Inf2"]}
# ours-expect: {"cpu": [1, 2], "disk": "10Gi", "memory": ["1Gi", "2Gi"]}
"""Resource requests with accelerators; the values are kept as given and local runs ignore them."""

import json

import flyte

gpu = flyte.GPU(device="A100", quantity=2)
tpu = flyte.TPU(device="V5P", partition="2x2x1")
amd = flyte.AMD_GPU(device="MI300X")
gaudi = flyte.HABANA_GAUDI(device="Gaudi1")
neuron = flyte.Neuron(device="Inf2")
res = flyte.Resources(cpu=(1, 2), memory=("1Gi", "2Gi"), gpu=gpu, disk="10Gi", shm="auto")
env = flyte.TaskEnvironment(name="resources", resources=res)


@env.task
async def work() -> int:
    return 1


@env.task
async def small() -> int:
    return 2


@env.task
async def both() -> list[int]:
    light = small.override(resources=flyte.Resources(cpu="500m", memory="256Mi", gpu="T4:1"))
    return [await work(), await light()]


if __name__ == "__main__":
    flyte.init()
    print("RESULT " + json.dumps({"gpu": [gpu.device, gpu.quantity], "tpu": [tpu.device, tpu.partition]}))
    kinds = [d.device for d in (gpu, tpu, amd, gaudi, neuron)]
    all_devices = all(isinstance(d, flyte.Device) for d in (gpu, tpu, amd, gaudi, neuron))
    print("RESULT " + json.dumps({"all_devices": all_devices, "kinds": kinds}))
    print("RESULT " + json.dumps({"cpu": list(res.cpu), "memory": list(res.memory), "disk": res.disk}))
    print("RESULT " + json.dumps({"out": flyte.run(both).outputs()[0]}))
