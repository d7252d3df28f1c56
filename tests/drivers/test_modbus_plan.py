"""Read planning: coalescing, gaps, limits, breaks, and where a refused block splits."""

from ampacity.drivers.modbus.plan import PointRef, ReadItem, plan_blocks, split_point
from ampacity.drivers.profile import Function

H = Function.HOLDING


def item(address: int, count: int = 1, unit: int = 1, function: Function = H) -> ReadItem:
    return ReadItem(
        PointRef("a", f"P{unit}_{function.value}_{address}"), unit, function, address, count
    )


def spans(blocks):
    return [(b.unit_id, b.function, b.address, b.count) for b in blocks]


def test_adjacent_points_form_one_block():
    blocks = plan_blocks([item(0, 2), item(2), item(3, 2)], max_gap=0)
    assert spans(blocks) == [(1, H, 0, 5)]
    assert [i.address for i in blocks[0].items] == [0, 2, 3]


def test_gap_up_to_max_gap_is_bridged_and_wider_gap_splits():
    # 0..1, then gap of 8 (2..9), then 10: bridged with max_gap=8, not with 7.
    assert spans(plan_blocks([item(0, 2), item(10)], max_gap=8)) == [(1, H, 0, 11)]
    assert spans(plan_blocks([item(0, 2), item(10)], max_gap=7)) == [(1, H, 0, 2), (1, H, 10, 1)]


def test_block_never_exceeds_the_register_limit():
    items = [item(a, 2) for a in range(0, 300, 2)]  # 300 contiguous registers
    blocks = plan_blocks(items, max_registers=125, max_gap=0)
    assert all(b.count <= 125 for b in blocks)
    assert sum(b.count for b in blocks) == 300
    assert spans(blocks)[:2] == [(1, H, 0, 124), (1, H, 124, 124)]  # 2-word points stay whole
    small = plan_blocks(items[:10], max_registers=6, max_gap=0)
    assert [b.count for b in small] == [6, 6, 6, 2]


def test_profile_limit_is_capped_at_protocol_limit_and_bits_at_2000():
    items = [item(a) for a in range(200)]
    assert max(b.count for b in plan_blocks(items, max_registers=500, max_gap=0)) == 125
    coils = [item(a, function=Function.COIL) for a in range(2500)]
    assert [b.count for b in plan_blocks(coils, max_gap=0)] == [2000, 500]


def test_units_and_functions_are_never_mixed():
    blocks = plan_blocks(
        [item(0), item(1, unit=2), item(1), item(2, function=Function.INPUT)], max_gap=8
    )
    assert spans(blocks) == [(1, H, 0, 2), (1, Function.INPUT, 2, 1), (2, H, 1, 1)]


def test_overlapping_points_share_registers():
    # A status register read as two bit points plus a 32-bit value starting at the same address.
    blocks = plan_blocks([item(5), item(5), item(5, 2)], max_gap=0)
    assert spans(blocks) == [(1, H, 5, 2)]
    assert len(blocks[0].items) == 3


def test_breaks_keep_blocks_apart():
    items = [item(0), item(3), item(6)]
    assert spans(plan_blocks(items, max_gap=8)) == [(1, H, 0, 7)]
    breaks = {(1, H): {3}}
    assert spans(plan_blocks(items, max_gap=8, breaks=breaks)) == [(1, H, 0, 1), (1, H, 3, 4)]
    other_unit = {(2, H): {3}}
    assert spans(plan_blocks(items, max_gap=8, breaks=other_unit)) == [(1, H, 0, 7)]


def test_split_point_prefers_the_widest_gap_then_the_middle():
    block = plan_blocks([item(0), item(2), item(7), item(8)], max_gap=8)[0]
    assert split_point(block) == 7
    contiguous = plan_blocks([item(0), item(1), item(2), item(3)], max_gap=0)[0]
    assert split_point(contiguous) == 2
    single = plan_blocks([item(4), item(4)], max_gap=0)[0]
    assert split_point(single) is None


def test_slice_gives_each_item_its_registers():
    block = plan_blocks([item(10, 2), item(13)], max_gap=8)[0]
    data = [100, 101, 102, 103]
    assert block.slice(block.items[0], data) == [100, 101]
    assert block.slice(block.items[1], data) == [103]


def test_every_shipped_modbus_profile_builds_a_driver_and_a_valid_plan():
    from ampacity.drivers.modbus import ModbusDeviceConfig, ModbusDriver, TcpEndpoint
    from ampacity.drivers.profile import all_profiles

    for profile in all_profiles().values():
        if profile.driver != "modbus":
            continue
        driver = ModbusDriver(profile, ModbusDeviceConfig("dev", tcp=TcpEndpoint("192.0.2.1")))
        assert driver.assets, profile.id
        for info in driver.assets:
            assert info.identification["DeviceProfile"] == profile.id
            assert set(info.ranges) <= set(info.points)
        items = [
            ReadItem(
                PointRef(a.key, name),
                1,
                p.function or profile.transport.default_function,
                p.address,
                p.word_count,
            )
            for a in profile.assets
            for name, p in a.points.items()
            if p.address is not None
        ]
        t = profile.transport
        for block in plan_blocks(items, max_registers=t.max_registers_per_read, max_gap=t.max_gap):
            assert block.count <= t.max_registers_per_read or block.function.is_bit, profile.id
