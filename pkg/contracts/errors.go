package contracts

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
)

// Error is the one error shape a client or a plugin may see: an HTTP status,
// a stable UPPER_SNAKE code and a human message. Code may be empty for the few
// better-auth errors that carry only a message.
type Error struct {
	// Status is the HTTP status the error is served with.
	Status int `json:"status"`
	// Code is the stable machine-readable code; empty for message-only errors.
	Code Code `json:"code,omitempty"`
	// Message is human text; clients must not parse it.
	Message string `json:"message"`
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("%d: %s", e.Status, e.Message)
	}
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

// Is reports whether target is an *Error with the same code (and, for
// message-only errors, the same message), so errors.Is works against the
// catalog's sentinel values.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	if e.Code == "" && t.Code == "" {
		return e.Message == t.Message
	}
	return e.Code == t.Code
}

// WithMessage returns a copy of e with its message replaced.
func (e *Error) WithMessage(msg string) *Error {
	c := *e
	c.Message = msg
	return &c
}

// WithStatus returns a copy of e served with another HTTP status.
func (e *Error) WithStatus(status int) *Error {
	c := *e
	c.Status = status
	return &c
}

// Code is a stable error code. Codes never change meaning once published.
type Code string

// codeInfo is a catalog entry: the default status and message of a code.
type codeInfo struct {
	status  int
	message string
}

// Err returns a new *Error for c with the catalog's status and message.
// An unknown code yields a 500 with the code kept, so a typo is visible.
func (c Code) Err() *Error {
	info, ok := catalog[c]
	if !ok {
		return &Error{Status: http.StatusInternalServerError, Code: c, Message: string(c)}
	}
	return &Error{Status: info.status, Code: c, Message: info.message}
}

// Errorf returns a new *Error for c with the catalog's status and a formatted message.
func (c Code) Errorf(format string, args ...any) *Error {
	e := c.Err()
	e.Message = fmt.Sprintf(format, args...)
	return e
}

// Known reports whether c is in the catalog.
func (c Code) Known() bool {
	_, ok := catalog[c]
	return ok
}

// Codes lists every code in the catalog, sorted.
func Codes() []Code {
	out := make([]Code, 0, len(catalog))
	for c := range catalog {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// AsError converts any error into an *Error: an *Error in the chain is
// returned as is, anything else becomes INTERNAL_SERVER_ERROR (without
// leaking the original text).
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return CodeInternalServerError.Err()
}

// Codes taken verbatim from better-auth 1.7.25 (BASE_ERROR_CODES and the
// ad-hoc codes of its core endpoints). Messages are the exact texts.
const (
	CodeUserNotFound                     Code = "USER_NOT_FOUND"
	CodeFailedToCreateUser               Code = "FAILED_TO_CREATE_USER"
	CodeFailedToCreateSession            Code = "FAILED_TO_CREATE_SESSION"
	CodeFailedToUpdateUser               Code = "FAILED_TO_UPDATE_USER"
	CodeFailedToGetSession               Code = "FAILED_TO_GET_SESSION"
	CodeInvalidPassword                  Code = "INVALID_PASSWORD"
	CodeInvalidEmail                     Code = "INVALID_EMAIL"
	CodeInvalidEmailOrPassword           Code = "INVALID_EMAIL_OR_PASSWORD"
	CodeInvalidUser                      Code = "INVALID_USER"
	CodeInvalidToken                     Code = "INVALID_TOKEN"
	CodeTokenExpired                     Code = "TOKEN_EXPIRED"
	CodeEmailNotVerified                 Code = "EMAIL_NOT_VERIFIED"
	CodePasswordTooShort                 Code = "PASSWORD_TOO_SHORT"
	CodePasswordTooLong                  Code = "PASSWORD_TOO_LONG"
	CodeUserAlreadyExists                Code = "USER_ALREADY_EXISTS"
	CodeUserAlreadyExistsUseAnotherEmail Code = "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"
	CodeEmailCanNotBeUpdated             Code = "EMAIL_CAN_NOT_BE_UPDATED"
	CodeChangeEmailDisabled              Code = "CHANGE_EMAIL_DISABLED"
	CodeCredentialAccountNotFound        Code = "CREDENTIAL_ACCOUNT_NOT_FOUND"
	CodeSessionExpired                   Code = "SESSION_EXPIRED"
	CodeUserAlreadyHasPassword           Code = "USER_ALREADY_HAS_PASSWORD"
	CodeCrossSiteNavigationLoginBlocked  Code = "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED"
	CodeVerificationEmailNotEnabled      Code = "VERIFICATION_EMAIL_NOT_ENABLED"
	CodeEmailAlreadyVerified             Code = "EMAIL_ALREADY_VERIFIED"
	CodeEmailMismatch                    Code = "EMAIL_MISMATCH"
	CodeSessionNotFresh                  Code = "SESSION_NOT_FRESH"
	CodeInvalidOrigin                    Code = "INVALID_ORIGIN"
	CodeInvalidCallbackURL               Code = "INVALID_CALLBACK_URL"
	CodeInvalidRedirectURL               Code = "INVALID_REDIRECT_URL"
	CodeInvalidErrorCallbackURL          Code = "INVALID_ERROR_CALLBACK_URL"
	CodeInvalidNewUserCallbackURL        Code = "INVALID_NEW_USER_CALLBACK_URL"
	CodeMissingOrNullOrigin              Code = "MISSING_OR_NULL_ORIGIN"
	CodeCallbackURLRequired              Code = "CALLBACK_URL_REQUIRED"
	CodeFailedToCreateVerification       Code = "FAILED_TO_CREATE_VERIFICATION"
	CodeFieldNotAllowed                  Code = "FIELD_NOT_ALLOWED"
	CodeValidationError                  Code = "VALIDATION_ERROR"
	CodeMissingField                     Code = "MISSING_FIELD"
	CodeMethodNotAllowedDeferSession     Code = "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED"
	CodeBodyMustBeAnObject               Code = "BODY_MUST_BE_AN_OBJECT"
	CodePasswordAlreadySet               Code = "PASSWORD_ALREADY_SET"
	CodeUnauthorized                     Code = "UNAUTHORIZED"
	CodeEmailPasswordDisabled            Code = "EMAIL_PASSWORD_DISABLED"
	CodeEmailPasswordSignUpDisabled      Code = "EMAIL_PASSWORD_SIGN_UP_DISABLED"
	CodeResetPasswordDisabled            Code = "RESET_PASSWORD_DISABLED"
	CodeUnsupportedMediaType             Code = "UNSUPPORTED_MEDIA_TYPE"
	CodeBadRequest                       Code = "BAD_REQUEST"
	CodeInternalServerError              Code = "INTERNAL_SERVER_ERROR"
)

// Codes of authbus itself (plugins, gateway, limits, administration).
const (
	// CodePayloadTooLarge: a request body exceeded its size limit.
	CodePayloadTooLarge Code = "PAYLOAD_TOO_LARGE"
	// CodeNotFound: no such resource or route.
	CodeNotFound Code = "NOT_FOUND"
	// CodeForbidden: authenticated but not allowed (e.g. not an admin).
	CodeForbidden Code = "FORBIDDEN"
	// CodeRateLimited: too many requests; retry after the advertised delay.
	CodeRateLimited Code = "RATE_LIMITED"
	// CodePluginUnavailable: a closed-policy plugin did not answer in time or had no responders.
	CodePluginUnavailable Code = "PLUGIN_UNAVAILABLE"
	// CodePluginTimeout: a plugin route did not answer within its deadline.
	CodePluginTimeout Code = "PLUGIN_TIMEOUT"
	// CodePluginError: a plugin answered with something the core could not use.
	CodePluginError Code = "PLUGIN_ERROR"
	// CodePatchNotAllowed: a hook reply patched a field its hook point does not allow.
	CodePatchNotAllowed Code = "PATCH_NOT_ALLOWED"
	// CodePermissionDenied: a plugin called something its granted permissions do not cover.
	CodePermissionDenied Code = "PERMISSION_DENIED"
	// CodeInvalidManifest: a plugin manifest failed validation.
	CodeInvalidManifest Code = "INVALID_MANIFEST"
	// CodeInvalidConfig: a plugin's configuration failed its schema.
	CodeInvalidConfig Code = "INVALID_CONFIG"
	// CodePluginRefused: the core refused a plugin registration (reasons in the message).
	CodePluginRefused Code = "PLUGIN_REFUSED"
	// CodeUnknownMethod: a plugin-to-plugin invoke named a method the target does not serve.
	CodeUnknownMethod Code = "UNKNOWN_METHOD"
	// CodeServiceUnavailable: a dependency of the core (database, bus) is unavailable.
	CodeServiceUnavailable Code = "SERVICE_UNAVAILABLE"
)

var catalog = map[Code]codeInfo{
	CodeUserNotFound:                     {http.StatusBadRequest, "User not found"},
	CodeFailedToCreateUser:               {http.StatusUnprocessableEntity, "Failed to create user"},
	CodeFailedToCreateSession:            {http.StatusBadRequest, "Failed to create session"},
	CodeFailedToUpdateUser:               {http.StatusInternalServerError, "Failed to update user"},
	CodeFailedToGetSession:               {http.StatusInternalServerError, "Failed to get session"},
	CodeInvalidPassword:                  {http.StatusBadRequest, "Invalid password"},
	CodeInvalidEmail:                     {http.StatusBadRequest, "Invalid email"},
	CodeInvalidEmailOrPassword:           {http.StatusUnauthorized, "Invalid email or password"},
	CodeInvalidUser:                      {http.StatusBadRequest, "Invalid user"},
	CodeInvalidToken:                     {http.StatusBadRequest, "Invalid token"},
	CodeTokenExpired:                     {http.StatusUnauthorized, "Token expired"},
	CodeEmailNotVerified:                 {http.StatusForbidden, "Email not verified"},
	CodePasswordTooShort:                 {http.StatusBadRequest, "Password too short"},
	CodePasswordTooLong:                  {http.StatusBadRequest, "Password too long"},
	CodeUserAlreadyExists:                {http.StatusUnprocessableEntity, "User already exists."},
	CodeUserAlreadyExistsUseAnotherEmail: {http.StatusUnprocessableEntity, "User already exists. Use another email."},
	CodeEmailCanNotBeUpdated:             {http.StatusBadRequest, "Email can not be updated"},
	CodeChangeEmailDisabled:              {http.StatusBadRequest, "Change email is disabled"},
	CodeCredentialAccountNotFound:        {http.StatusBadRequest, "Credential account not found"},
	CodeSessionExpired:                   {http.StatusBadRequest, "Session expired. Re-authenticate to perform this action."},
	CodeUserAlreadyHasPassword:           {http.StatusBadRequest, "User already has a password. Provide that to delete the account."},
	CodeCrossSiteNavigationLoginBlocked:  {http.StatusForbidden, "Cross-site navigation login blocked. This request appears to be a CSRF attack."},
	CodeVerificationEmailNotEnabled:      {http.StatusBadRequest, "Verification email isn't enabled"},
	CodeEmailAlreadyVerified:             {http.StatusBadRequest, "Email is already verified"},
	CodeEmailMismatch:                    {http.StatusBadRequest, "Email mismatch"},
	CodeSessionNotFresh:                  {http.StatusForbidden, "Session is not fresh"},
	CodeInvalidOrigin:                    {http.StatusForbidden, "Invalid origin"},
	CodeInvalidCallbackURL:               {http.StatusForbidden, "Invalid callbackURL"},
	CodeInvalidRedirectURL:               {http.StatusForbidden, "Invalid redirectURL"},
	CodeInvalidErrorCallbackURL:          {http.StatusForbidden, "Invalid errorCallbackURL"},
	CodeInvalidNewUserCallbackURL:        {http.StatusForbidden, "Invalid newUserCallbackURL"},
	CodeMissingOrNullOrigin:              {http.StatusForbidden, "Missing or null Origin"},
	CodeCallbackURLRequired:              {http.StatusBadRequest, "callbackURL is required"},
	CodeFailedToCreateVerification:       {http.StatusInternalServerError, "Unable to create verification"},
	CodeFieldNotAllowed:                  {http.StatusBadRequest, "Field not allowed to be set"},
	CodeValidationError:                  {http.StatusBadRequest, "Validation Error"},
	CodeMissingField:                     {http.StatusBadRequest, "Field is required"},
	CodeMethodNotAllowedDeferSession:     {http.StatusMethodNotAllowed, "POST method requires deferSessionRefresh to be enabled in session config"},
	CodeBodyMustBeAnObject:               {http.StatusBadRequest, "Body must be an object"},
	CodePasswordAlreadySet:               {http.StatusBadRequest, "User already has a password set"},
	CodeUnauthorized:                     {http.StatusUnauthorized, "Unauthorized"},
	CodeEmailPasswordDisabled:            {http.StatusBadRequest, "Email and password is not enabled"},
	CodeEmailPasswordSignUpDisabled:      {http.StatusBadRequest, "Email and password sign up is not enabled"},
	CodeResetPasswordDisabled:            {http.StatusBadRequest, "Reset password isn't enabled"},
	CodeUnsupportedMediaType:             {http.StatusUnsupportedMediaType, "Unsupported media type"},
	CodeBadRequest:                       {http.StatusBadRequest, "Invalid JSON in request body"},
	CodeInternalServerError:              {http.StatusInternalServerError, "Internal Server Error"},

	CodePayloadTooLarge:    {http.StatusRequestEntityTooLarge, "Request body is too large"},
	CodeNotFound:           {http.StatusNotFound, "Not Found"},
	CodeForbidden:          {http.StatusForbidden, "Forbidden"},
	CodeRateLimited:        {http.StatusTooManyRequests, "Too many requests. Please try again later."},
	CodePluginUnavailable:  {http.StatusServiceUnavailable, "A required plugin is unavailable"},
	CodePluginTimeout:      {http.StatusGatewayTimeout, "A plugin did not answer in time"},
	CodePluginError:        {http.StatusBadGateway, "A plugin returned an invalid answer"},
	CodePatchNotAllowed:    {http.StatusBadGateway, "A plugin tried to change a field it may not change"},
	CodePermissionDenied:   {http.StatusForbidden, "Permission denied"},
	CodeInvalidManifest:    {http.StatusBadRequest, "Invalid plugin manifest"},
	CodeInvalidConfig:      {http.StatusBadRequest, "Invalid plugin configuration"},
	CodePluginRefused:      {http.StatusConflict, "Plugin refused"},
	CodeUnknownMethod:      {http.StatusNotFound, "Unknown method"},
	CodeServiceUnavailable: {http.StatusServiceUnavailable, "Service temporarily unavailable"},
}
