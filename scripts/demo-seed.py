"""The demo's stand-in for a person working in the AWS console.

  demo-seed.py ENDPOINT seed
      Create what the examples refer to, as a user's account would have it, and print
      `PLACEHOLDER=ID` lines for the pool ids the emulator generated.
  demo-seed.py ENDPOINT fix-partner-role POOL_ID
      Do what the operator's condition message asked of the role's owner.
  demo-seed.py ENDPOINT read-sms NUMBER
      Print the verification code in the last SMS sent to NUMBER, as its owner would read it.
  demo-seed.py ENDPOINT add-replica POOL_ID REGION
      Replicate the pool to a second Region, as its owner would for a failover.
  demo-seed.py ENDPOINT try-text NUMBER CONFIGURATION_SET SENDER
      Text NUMBER through End User Messaging as an app (or a bot's sign-up) would; print whether
      it was sent or why it was refused.
  demo-seed.py ENDPOINT spend REGION DOLLARS
      Make the month's SMS spend in REGION DOLLARS, as many texts would.
  demo-seed.py ENDPOINT production-access REGION
      What AWS Support does on request: take the account out of the SMS sandbox, raise the
      spend limit, and provision a 10DLC number beside the toll-free one.
"""
import json
import sys

import boto3

endpoint, command = sys.argv[1], sys.argv[2]
ACCOUNT = "123456789012"


def client(service, region="us-east-1"):
    return boto3.client(service, endpoint_url=endpoint, region_name=region,
                        aws_access_key_id="demo", aws_secret_access_key="demo")


if command == "read-sms":
    import urllib.request
    data = json.load(urllib.request.urlopen(f"{endpoint}/moto-api/data.json"))
    texts = [m["message"] for m in data["sns"]["SMS"] if m["phone_number"] == sys.argv[3]]
    print(texts[-1].rsplit(" ", 1)[-1])
    sys.exit(0)

def control(path, body):
    """Shape the emulated account through the emulator's control endpoints."""
    import urllib.request
    data = json.dumps({"account": ACCOUNT, **body}).encode()
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/_emulator/{path}", data=data,
                                                  headers={"Content-Type": "application/json"}))


if command == "add-replica":
    control("cognito/replica", {"createSeconds": 2})
    client("cognito-idp").create_user_pool_replica(UserPoolId=sys.argv[3], RegionName=sys.argv[4])
    sys.exit(0)

if command == "try-text":
    from botocore.exceptions import ClientError
    try:
        client("pinpoint-sms-voice-v2").send_text_message(
            DestinationPhoneNumber=sys.argv[3], ConfigurationSetName=sys.argv[4], OriginationIdentity=sys.argv[5],
            MessageBody="Your verification code is 123456")
        print(f"sent to {sys.argv[3]}")
    except ClientError as e:
        print(f"refused: {e.response.get('Reason', e.response['Error']['Code'])}: {e.response['Error']['Message']}")
    sys.exit(0)

if command == "spend":
    control("sns/account", {"region": sys.argv[3], "spentThisMonth": float(sys.argv[4])})
    control("sms-voice/account", {"region": sys.argv[3], "spentThisMonth": float(sys.argv[4])})
    sys.exit(0)

if command == "production-access":
    control("sns/account", {
        "region": sys.argv[3], "inSandbox": False, "monthlySpendLimit": "100",
        "originationNumbers": [{"phoneNumber": "+18885550100", "type": "TOLL_FREE"},
                               {"phoneNumber": "+12065550142", "type": "TEN_DLC"}],
    })
    sys.exit(0)

if command == "fix-partner-role":
    pool_id = sys.argv[3]
    iam = client("iam")
    iam.update_assume_role_policy(RoleName="PartnerPortalSms", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "cognito-idp.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": ACCOUNT, "sts:ExternalId": "partner-portal-sms"},
                "ArnLike": {"aws:SourceArn": f"arn:aws:cognito-idp:eu-central-1:{ACCOUNT}:userpool/{pool_id}"},
            },
        }],
    }))
    iam.put_role_policy(RoleName="PartnerPortalSms", PolicyName="sms", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}],
    }))
    sys.exit(0)

storefront = client("cognito-idp", "us-east-1").create_user_pool(
    PoolName="storefront",
    AutoVerifiedAttributes=["phone_number"],
    MfaConfiguration="OPTIONAL",
    DeletionProtection="ACTIVE",
)["UserPool"]["Id"]
partner = client("cognito-idp", "eu-central-1").create_user_pool(PoolName="partner-portal")["UserPool"]["Id"]
checkout = client("cognito-idp", "us-east-1").create_user_pool(PoolName="checkout")["UserPool"]["Id"]

# The account's toll-free number in us-east-1 (End User Messaging texts verification codes to US
# numbers from it) and a configuration set for the checkout pool's messages.
control("sns/account", {"region": "us-east-1",
                        "originationNumbers": [{"phoneNumber": "+18885550100", "type": "TOLL_FREE"}]})
control("sms-voice/account", {"region": "us-east-1", "configurationSets": [{"name": "checkout-events"}]})

# The platform team's role: it trusts Cognito but forgot the confused-deputy conditions and
# has no sns:Publish permission yet.
client("iam").create_role(
    RoleName="PartnerPortalSms",
    Path="/service-role/",
    AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "cognito-idp.amazonaws.com"},
                       "Action": "sts:AssumeRole"}],
    }),
)
print(f"us-east-1_EXAMPLE01={storefront}")
print(f"eu-central-1_EXAMPLE02={partner}")
print(f"us-east-1_EXAMPLE03={checkout}")
