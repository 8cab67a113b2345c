"""
The lab probe's subscriber as a Python application would write it with Debian's python3-paho-mqtt
(1.6): a persistent session (clean_session False, a fixed client id, MQTT 3.1.1), subscribing in
on_connect, paho's own reconnect back-off (reconnect_delay_set defaults: 1 s doubling to 120 s).
Run by lab/probe.ts inside the client namespace: reads its spec as the first line on stdin (no
password in argv), writes every event as a JSON line on stdout in the probe's format (lab/history.ts),
and leaves on a "stop" line (or when stdin closes).
"""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

lock = threading.Lock()


def emit(event):
    event["t"] = time.time() * 1000
    with lock:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


def main():
    spec = json.loads(sys.stdin.readline())
    client = mqtt.Client(client_id=spec["clientId"], clean_session=False, protocol=mqtt.MQTTv311)
    client.username_pw_set(spec["username"], spec["password"])
    subscribed = {"once": False}

    def on_connect(client, userdata, flags, rc):
        if rc != 0:
            emit({"e": "error", "who": "sub", "detail": f"connack {rc}"})
            return
        emit({"e": "connect", "who": "sub"})
        client.subscribe(spec["topic"], qos=spec["qos"])

    def on_subscribe(client, userdata, mid, granted):
        if not subscribed["once"]:
            subscribed["once"] = True
            emit({"e": "subscribed", "who": "sub"})

    def on_disconnect(client, userdata, rc):
        emit({"e": "close", "who": "sub"})

    def on_message(client, userdata, message):
        emit({"e": "recv", "seq": int(message.payload.decode()), "dup": bool(message.dup)})

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_disconnect = on_disconnect
    client.on_message = on_message
    client.connect_async(spec["host"], spec["port"], keepalive=spec["keepalive"])
    client.loop_start()
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    client.disconnect()
    client.loop_stop()
    emit({"e": "done"})


main()
