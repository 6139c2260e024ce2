"""The Channels tutorial chat consumer (async version), frames renamed to the bench's."""

import json

from channels.generic.websocket import AsyncWebsocketConsumer


class ChatConsumer(AsyncWebsocketConsumer):
    """Join the room group, group_send every message, forward each to the socket."""

    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code):
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data):
        text_data_json = json.loads(text_data)
        body = text_data_json["body"]
        await self.channel_layer.group_send(
            self.room_group_name, {"type": "chat.message", "body": body}
        )

    async def chat_message(self, event):
        body = event["body"]
        await self.send(text_data=json.dumps({"type": "message", "body": body}))
