from flask import Blueprint, current_app, jsonify

from spinach import Tasks

from .app import spinach

blueprint = Blueprint("auth", __name__)
tasks = Tasks()


@blueprint.route("/")
def create_user():
    spinach.schedule("send_welcome_email", 42)
    return jsonify({"user_id": 42})


@tasks.task(name="send_welcome_email")
def send_welcome_email(user_id):
    # Jobs run inside an application context of their application
    print(f"Sending welcome email to user {user_id} from {current_app.name}")
