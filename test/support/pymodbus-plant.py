#!/usr/bin/python3
"""An independent Modbus peer for edgetwin's tests: Debian's pymodbus serving several unit IDs on one TCP port
or one serial line. Unit u holds holding register i = u * 100 + i and input register i = u * 1000 + i.
Prints `ready <port-or-path>` once serving. Commands on stdin, one per line: `drop <unit>` (the unit stops
answering), `restore <unit>`, `get <unit> <register>` (prints `value <n>`)."""
import argparse
import asyncio
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.server.async_io import ModbusSerialServer, ModbusTcpServer


def slave(unit):
    return ModbusSlaveContext(
        hr=ModbusSequentialDataBlock(0, [unit * 100 + i for i in range(200)]),
        ir=ModbusSequentialDataBlock(0, [unit * 1000 + i for i in range(200)]),
        co=ModbusSequentialDataBlock(0, [0] * 100),
        di=ModbusSequentialDataBlock(0, [0] * 100),
        zero_mode=True,
    )


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", default="1,2,3,4")
    parser.add_argument("--serial")
    parser.add_argument("--baud", type=int, default=115200)
    args = parser.parse_args()
    units = [int(u) for u in args.units.split(",")]
    slaves = {u: slave(u) for u in units}
    context = ModbusServerContext(slaves=dict(slaves), single=False)
    if args.serial:
        server = ModbusSerialServer(
            context, framer=ModbusRtuFramer, port=args.serial, baudrate=args.baud, ignore_missing_slaves=True
        )
        asyncio.ensure_future(server.start())
        where = args.serial
    else:
        server = ModbusTcpServer(context, address=("127.0.0.1", 0), ignore_missing_slaves=True, defer_start=True)
        server.server = await server.loop.create_server(lambda: server.handler(server), "127.0.0.1", 0)
        where = server.server.sockets[0].getsockname()[1]
        asyncio.ensure_future(server.server.serve_forever())
    print(f"ready {where}", flush=True)
    reader = asyncio.StreamReader()
    await asyncio.get_event_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        words = line.split()
        if words[0] == "drop":
            del context[int(words[1])]
        elif words[0] == "restore":
            context[int(words[1])] = slaves[int(words[1])]
        elif words[0] == "get":
            value = slaves[int(words[1])].getValues(3, int(words[2]), 1)[0]
            print(f"value {value}", flush=True)
        print(f"ok {line}", flush=True)


asyncio.run(main())
