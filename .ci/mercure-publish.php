<?php
// Publishes one Mercure update with Symfony's Mercure component (Debian's php-symfony-mercure), as a
// PHP application would, and prints the id the hub answered with. Run it through
// .ci/mercure-php-publisher, which installs the packages it needs.
//
// usage: php mercure-publish.php HUB_URL TOPIC [TOPIC...] [options]
//   --data TEXT        the update's data (default: empty)
//   --id ID            the update's id (default: none, the hub makes one)
//   --type TYPE        the SSE event type
//   --retry MS         the SSE reconnection time
//   --private          mark the update private
//   --jwt-key KEY      HS256 key to sign the access token with (default: $MERCURE_PUBLISHER_JWT_KEY)
//   --audience AUD     the token's `aud` (default: $MERCURE_AUDIENCE, else HUB_URL)
//   --issuer ISS       the token's `iss` (default: $MERCURE_ISSUER, else https://localhost)
//   --grant MATCHER    a topic the token may publish to (repeatable; default: `*`, every topic)
//   --lifetime SECS    the token's lifetime (default: 3600)
//   --token JWT        send this token as it is instead of signing one
//
// exit codes: 0 published (the id is on standard output); 1 the hub answered with an error status
// (status, WWW-Authenticate and body on standard error); 2 a usage error; 3 no answer from the hub.
//
// The Debian version of the component (0.6) signs tokens only through lcobucci/jwt, which Debian
// does not package, and puts the grants in the pre-2026 `mercure` claim. The current protocol wants
// an RFC 9068 access token (`typ: at+jwt`, `iss`, `aud`, `exp`, ...) whose grants are an
// `authorization_details` claim, so this script signs that token itself (HS256, with hash_hmac)
// and hands it to the component through its CallableTokenProvider: the request on the wire is the
// component's own.

declare(strict_types=1);

require_once 'Symfony/Component/Mercure/autoload.php';

use Symfony\Component\HttpClient\Exception\TransportException;
use Symfony\Component\Mercure\Hub;
use Symfony\Component\Mercure\Jwt\CallableTokenProvider;
use Symfony\Component\Mercure\Update;
use Symfony\Contracts\HttpClient\Exception\HttpExceptionInterface;
use Symfony\Contracts\HttpClient\Exception\TransportExceptionInterface;

function usage_error(string $message): never
{
    fwrite(STDERR, "mercure-publish: $message\n");
    fwrite(STDERR, "usage: php mercure-publish.php HUB_URL TOPIC [TOPIC...] [--data TEXT] [--id ID] [--type TYPE] [--retry MS] [--private] [--jwt-key KEY] [--audience AUD] [--issuer ISS] [--grant MATCHER]... [--lifetime SECS] [--token JWT]\n");
    exit(2);
}

function base64url(string $bytes): string
{
    return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
}

/**
 * An RFC 9068 JWT access token, HS256-signed, granting `publish` on each of $grants.
 *
 * @param list<string> $grants
 */
function access_token(string $key, string $audience, string $issuer, array $grants, int $lifetime): string
{
    $now = time();
    $header = ['alg' => 'HS256', 'typ' => 'at+jwt'];
    $claims = [
        'iss' => $issuer,
        'aud' => $audience,
        'sub' => 'mercure-publish.php',
        'client_id' => $issuer,
        'iat' => $now,
        'exp' => $now + $lifetime,
        'jti' => bin2hex(random_bytes(16)),
        'authorization_details' => [[
            'type' => 'https://mercure.rocks/authorization-detail',
            'actions' => ['publish'],
            'topics' => array_map(fn (string $match) => ['match' => $match], $grants),
        ]],
    ];
    $flags = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR;
    $signed = base64url(json_encode($header, $flags)) . '.' . base64url(json_encode($claims, $flags));

    return $signed . '.' . base64url(hash_hmac('sha256', $signed, $key, true));
}

$positional = [];
$data = '';
$id = null;
$type = null;
$retry = null;
$private = false;
$key = getenv('MERCURE_PUBLISHER_JWT_KEY') ?: null;
$audience = getenv('MERCURE_AUDIENCE') ?: null;
$issuer = getenv('MERCURE_ISSUER') ?: 'https://localhost';
$grants = [];
$lifetime = 3600;
$token = null;

$args = array_slice($argv, 1);
for ($i = 0; $i < count($args); $i++) {
    $arg = $args[$i];
    if ($arg === '--private') {
        $private = true;
        continue;
    }
    if (str_starts_with($arg, '--')) {
        if (!array_key_exists($i + 1, $args)) {
            usage_error("$arg needs a value");
        }
        $value = $args[++$i];
        match ($arg) {
            '--data' => $data = $value,
            '--id' => $id = $value,
            '--type' => $type = $value,
            '--retry' => $retry = ctype_digit($value) ? (int) $value : usage_error("--retry wants a number, not '$value'"),
            '--jwt-key' => $key = $value,
            '--audience' => $audience = $value,
            '--issuer' => $issuer = $value,
            '--grant' => $grants[] = $value,
            '--lifetime' => $lifetime = ctype_digit($value) ? (int) $value : usage_error("--lifetime wants a number, not '$value'"),
            '--token' => $token = $value,
            default => usage_error("unknown option $arg"),
        };
        continue;
    }
    $positional[] = $arg;
}

if (count($positional) < 2) {
    usage_error('a hub URL and at least one topic are needed');
}
$hubUrl = array_shift($positional);
$topics = $positional;
if ($token === null) {
    if ($key === null) {
        usage_error('no key to sign the token with: --jwt-key KEY or MERCURE_PUBLISHER_JWT_KEY (or --token JWT)');
    }
    $token = access_token($key, $audience ?? $hubUrl, $issuer, $grants === [] ? ['*'] : $grants, $lifetime);
}

$hub = new Hub($hubUrl, new CallableTokenProvider(fn () => $token));
try {
    $answer = $hub->publish(new Update($topics, $data, $private, $id, $type, $retry));
} catch (\Throwable $error) {
    $cause = $error->getPrevious() ?? $error;
    if ($cause instanceof HttpExceptionInterface) {
        $response = $cause->getResponse();
        $headers = $response->getHeaders(false);
        fwrite(STDERR, sprintf("mercure-publish: the hub answered %d\n", $response->getStatusCode()));
        foreach ($headers['www-authenticate'] ?? [] as $challenge) {
            fwrite(STDERR, "WWW-Authenticate: $challenge\n");
        }
        fwrite(STDERR, $response->getContent(false) . "\n");
        exit(1);
    }
    if ($cause instanceof TransportExceptionInterface || $cause instanceof TransportException) {
        fwrite(STDERR, 'mercure-publish: no answer from ' . $hubUrl . ': ' . $cause->getMessage() . "\n");
        exit(3);
    }
    fwrite(STDERR, 'mercure-publish: ' . $error->getMessage() . "\n");
    exit(2);
}
echo $answer, "\n";
