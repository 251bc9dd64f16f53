"""CRM settings: the record-creation rules (seed 004) and the CRM they talk to.

A plain pydantic model, so that it can be nested into ``shared.config.Settings``
(field ``crm``, env names ``CRM__...`` with the ``__`` delimiter) and, when
the project grows tenants, loaded per tenant from a JSON document as well.
Every field has a default: an environment that sets nothing creates no
records (``kind="none"``).

Credentials are ``SecretStr``: they print as ``**********`` in reprs and
logs. Locally they come from the environment; in the cloud the function gets
them from Secret Manager as secret environment variables (Terraform
``secret_environment_variables``) under the same names, so the code has one
path for both.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

CrmKind = Literal["none", "zendesk", "salesforce", "freshdesk", "kustomer", "webhook"]
AbandonedChatRecords = Literal["off", "all", "min_messages"]
FileDelivery = Literal["api", "email"]


class ZendeskSettings(BaseModel):
    email: str = Field("", description="E-mail of the API user (Basic auth '{email}/token')")
    api_token: SecretStr = Field(SecretStr(""), description="Zendesk API token")
    end_user_field_id: int | None = Field(
        None, description="Ticket custom field id holding the end user id (for attaching)"
    )
    leaf_queue_field_id: int | None = Field(
        None, description="Ticket custom field id holding the leaf queue id (for attaching)"
    )


class SalesforceSettings(BaseModel):
    client_id: str = Field("", description="Connected app consumer key (client credentials)")
    client_secret: SecretStr = Field(SecretStr(""), description="Connected app consumer secret")
    api_version: str = Field("v60.0", description="REST API version in the path")
    session_id_field: str = Field(
        "CCAIP_Session_Id__c", description="Case External ID (unique) field holding the session key"
    )
    end_user_field: str = Field("CCAIP_End_User_Id__c", description="Case field: end user id")
    leaf_queue_field: str = Field("CCAIP_Leaf_Queue__c", description="Case field: leaf queue id")
    session_type_field: str = Field(
        "CCAIP_Session_Type__c", description="Case field: session type (Case has no tags)"
    )
    reopen_status: str = Field("New", description="Status a reopened case goes back to")
    auto_assign: str = Field(
        "FALSE",
        description="Sforce-Auto-Assign header on case writes: FALSE keeps our owner (and the "
        "agents' own cases); TRUE runs the active assignment rules; or an AssignmentRule id",
    )
    contact_external_id_field: str = Field(
        "CCAIP_End_User_Id__c",
        description="Contact External ID (unique) field holding the end user id (upsert key)",
    )


class FreshdeskSettings(BaseModel):
    api_key: SecretStr = Field(SecretStr(""), description="Freshdesk API key (Basic 'key:X')")
    session_id_field: str = Field("cf_ccaip_session_id", description="Ticket field: session key")
    end_user_field: str = Field("cf_ccaip_end_user_id", description="Ticket field: end user id")
    leaf_queue_field: str = Field("cf_ccaip_leaf_queue", description="Ticket field: leaf queue id")
    default_requester_email: str = Field(
        "unknown-caller@example.invalid",
        description="Requester when the end user is unknown (Freshdesk requires one)",
    )
    index_lag_seconds: float = Field(
        300.0,
        ge=0,
        description="Freshdesk's filter index lag ('a few minutes'): after a crash, a takeover "
        "waits this long since the lost create before concluding that no ticket exists",
    )


class KustomerSettings(BaseModel):
    api_key: SecretStr = Field(SecretStr(""), description="Kustomer API key (Bearer)")
    app_url: str = Field("", description="Agent app URL for record links; empty: the API URL")
    session_id_attr: str = Field(
        "ccaipSessionIdStr", description="Conversation custom attribute: session key"
    )
    leaf_queue_attr: str = Field(
        "ccaipLeafQueueStr", description="Conversation custom attribute: leaf queue id"
    )
    end_user_attr: str = Field(
        "ccaipEndUserStr", description="Conversation custom attribute: end user id"
    )
    unknown_customer_external_id: str = Field(
        "ccaip-unknown-end-user",
        description="Customer externalId used when the end user is unknown",
    )


class EmailSettings(BaseModel):
    """'Update a CRM record using e-mail': the file goes to the CRM's mail channel."""

    smtp_host: str = Field("", description="SMTP server host")
    smtp_port: int = Field(587, description="SMTP server port")
    starttls: bool = Field(True, description="Upgrade the connection with STARTTLS")
    username: str = Field("", description="SMTP user; empty: no AUTH")
    password: SecretStr = Field(SecretStr(""), description="SMTP password")
    from_address: str = Field("", description="Sender address")
    to_address: str = Field("", description="The CRM's inbound e-mail address")
    subject_template: str = Field(
        "[#{record_id}] {filename}",
        description="Subject; {record_id} and {filename} are replaced",
    )


class CrmSettings(BaseModel):
    """Which CRM, how records are created, titled, tagged and assigned."""

    kind: CrmKind = Field("none", description="Target CRM; 'none' creates no records")
    base_url: str = Field(
        "",
        description="CRM base URL: https://{sub}.zendesk.com, https://{domain}.my.salesforce.com, "
        "https://{domain}.freshdesk.com, https://{org}.api.kustomerapp.com",
    )
    file_delivery: FileDelivery = Field(
        "api", description="How the metadata file reaches the record: CRM API or e-mail"
    )
    external_id_prefix: str = Field(
        "ccaip-", description="Record key = prefix + session id (add the tenant when several)"
    )
    throttle_default_seconds: float = Field(
        60.0, gt=0, description="Wait after a throttle answer that names no time (Salesforce)"
    )

    # When a record is created
    delay_until_connected: bool = Field(
        False, description="Calls: create at connection to the agent instead of assignment"
    )
    chat_min_consumer_messages: int = Field(
        0, ge=0, description="Chats: wait for N end-user messages before creating; 0 = off"
    )
    abandoned_call_records: bool = Field(
        False, description="Create records for calls abandoned before reaching an agent"
    )
    abandoned_chat_records: AbandonedChatRecords = Field(
        "off", description="Abandoned chats: off, all (incl. short-abandoned), min_messages"
    )
    abandoned_chat_min_messages: int = Field(
        1, ge=1, description="With min_messages: end-user messages an abandoned chat needs"
    )
    voicemail_records: bool = Field(
        True,
        description="Calls that end in a voicemail get a record (for the default admin user); "
        "never with delay_until_connected, which only lets connected calls create one",
    )
    short_abandon_seconds: int = Field(
        30,
        ge=0,
        description="A chat ending within this many seconds of queueing is short-abandoned",
    )

    # Where a session goes
    attach_to_open_record_same_leaf_queue: bool = Field(
        False, description="Attach to the latest open record of the same end user and leaf queue"
    )
    attach_to_closed_within_days: int = Field(
        0, ge=0, description="Also attach to such a record closed at most N days ago; 0 = off"
    )

    # Title, tags, assignment
    title_template: str = Field(
        "CALL_TYPE CALL_ID",
        description="Record title; CALL_TYPE, CALL_ID, MENU_PATH, PHONE_NUMBER, LANGUAGE, "
        "TIMESTAMP are replaced by what is known",
    )
    session_type_tags: bool = Field(False, description="Tag records with the session type")
    platform_tag: bool = Field(False, description="Tag every record with the platform tag")
    platform_tag_value: str = Field("UJET", description="The platform tag")
    default_admin_user: str = Field(
        "", description="CRM user id that takes records where no agent is known; empty: none"
    )

    zendesk: ZendeskSettings = Field(
        default_factory=ZendeskSettings, description="Zendesk credentials and field names"
    )
    salesforce: SalesforceSettings = Field(
        default_factory=SalesforceSettings, description="Salesforce credentials and field names"
    )
    freshdesk: FreshdeskSettings = Field(
        default_factory=FreshdeskSettings, description="Freshdesk credentials and field names"
    )
    kustomer: KustomerSettings = Field(
        default_factory=KustomerSettings, description="Kustomer credentials and field names"
    )
    email: EmailSettings = Field(
        default_factory=EmailSettings, description="SMTP delivery of the file (file_delivery=email)"
    )
