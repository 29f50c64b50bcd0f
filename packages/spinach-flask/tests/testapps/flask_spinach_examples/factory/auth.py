"""Documentation 7.2.2 ``auth.py``, verbatim."""

from flask import Blueprint, jsonify

from spinach import Tasks

from .app import spinach

blueprint = Blueprint("auth", __name__)
tasks = Tasks()


@blueprint.route("/")
def create_user():
    spinach.schedule("send_welcome_email")
    return jsonify({"user_id": 42})


@tasks.task(name="send_welcome_email")
def send_welcome_email():
    print("Sending email...")
