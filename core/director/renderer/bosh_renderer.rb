# frozen_string_literal: true
#
# ERB renderer for the director: one long-lived process per deploy.
#
# Protocol (stdin/stdout, one JSON object per line each way, in order):
#
#   request:  {"id": ANY, "templates": [{"name": "ctl.erb", "path": "/abs/file",
#              "dest": "bin/ctl"}, ...], "context": {...template spec...}}
#   success:  {"id": ANY, "rendered": {"bin/ctl": "text", ...}}
#   failure:  {"id": ANY, "error": "Error filling in template 'ctl.erb' (line 12: ...)"}
#             (one message per failing template, joined with "\n")
#   malformed request: {"id": ANY-or-null, "error": "bad request: ..."}
#
# Blank lines are ignored. The process never exits on a bad request or a
# failing template; it ends at EOF on stdin.
#
# Template semantics follow the bosh-template gem (Bosh::Template /
# Bosh::Common::Template::EvaluationContext): p, if_p, link, if_link, spec,
# properties, name, index, the else/else_if_p/else_if_link helpers, link
# instances, link p/if_p and link address. Every template is ERB with trim
# mode "-".
#
# Ruby 3.1 standard library only.

require 'erb'
require 'json'
require 'ostruct'
require 'set'
require 'stringio'

# Libraries templates commonly use without requiring them (the BOSH director
# process has them loaded, and bosh-common loads shellwords on purpose).
%w[yaml shellwords base64 digest securerandom uri ipaddr time openssl].each do |lib|
  begin
    require lib
  rescue LoadError
    nil
  end
end

# Templates that read files themselves get UTF-8, as in the director.
begin
  verbose, $VERBOSE = $VERBOSE, nil
  Encoding.default_external = Encoding::UTF_8
ensure
  $VERBOSE = verbose
end

# bosh-common loads active_support/core_ext/object/blank for templates. The
# gem is not part of the standard library; provide the same small surface
# (blank?, present?, presence) where nothing else defined it.
unless Object.method_defined?(:blank?)
  class Object
    def blank?
      respond_to?(:empty?) ? !!empty? : !self
    end

    def present?
      !blank?
    end

    def presence
      self if present?
    end
  end

  class NilClass
    def blank?
      true
    end
  end

  class FalseClass
    def blank?
      true
    end
  end

  class TrueClass
    def blank?
      false
    end
  end

  class Numeric
    def blank?
      false
    end
  end

  class String
    def blank?
      empty? || /\A[[:space:]]*\z/.match?(self)
    end
  end
end

module Bosh
  module Template
    class EvaluationFailed < StandardError; end

    class UnknownProperty < StandardError
      attr_reader :name

      def initialize(names)
        @name = names
        super("Can't find property '#{names}'")
      end
    end

    class UnknownLink < StandardError
      def initialize(name)
        super("Can't find link '#{name}'")
      end
    end

    # Dotted-name lookup, the same walk bosh-template does: split on ".",
    # index each level with [], stop at the first nil.
    module PropertyHelper
      def lookup_property(collection, name)
        return nil if collection.nil?

        ref = collection
        name.split('.').each do |key|
          ref = ref[key]
          return nil if ref.nil?
        end
        ref
      end

      private

      # p(name), p(name, default), p([names]), p([names], default)
      def property_from(collection, args)
        names = Array(args[0])
        names.each do |candidate|
          value = lookup_property(collection, candidate)
          return value unless value.nil?
        end
        return args[1] if args.length == 2

        raise UnknownProperty, names
      end

      # if_p(*names) { |*values| } -> else-block object
      def if_properties(collection, names, owner)
        values = []
        names.each do |candidate|
          value = lookup_property(collection, candidate)
          return EvaluationContext::ActiveElseBlock.new(owner) if value.nil?

          values << value
        end
        yield(*values)
        EvaluationContext::InactiveElseBlock.new
      end
    end

    # Resolves link.address(...) the way the director's DNS encoder does for
    # long (non-short) BOSH DNS names:
    #   q-<slug>.<group>.<network>.<deployment>.<root domain>
    # AZ filters (address(azs: [...])) need the director's AZ ids, read from
    # the optional context key "dns_az_ids" ({"z1": 1, ...}); short DNS names
    # need group ids the spec does not carry. Both raise rather than produce
    # a wrong name when the ids are missing.
    class LongDnsEncoder
      HEALTH = { 'healthy' => 3, 'unhealthy' => 1, 'all' => 4, 'default' => 0 }.freeze

      def initialize(az_ids = nil)
        @az_ids = az_ids.is_a?(Hash) ? az_ids : {}
      end

      def encode_query(criteria, use_short_dns = false)
        raise NotImplementedError, 'link.address with short DNS addresses is not supported by this director' if use_short_dns

        parts = []
        azs = criteria[:azs] || criteria['azs']
        Array(azs).each do |az|
          id = @az_ids[az.to_s]
          raise "Unknown AZ: '#{az}'" if id.nil?

          parts << "a#{id}"
        end
        status = (criteria[:status] || criteria['status'])
        parts << "s#{HEALTH.fetch(status.to_s, 0)}"

        group = criteria[:group_name]
        network = criteria[:default_network]
        deployment = criteria[:deployment_name]
        root = criteria[:root_domain]
        if group.nil? || network.nil? || deployment.nil? || root.nil?
          raise NotImplementedError, 'link.address requires bosh director'
        end

        ["q-#{parts.sort.join}", canonical(group), canonical(network), canonical(deployment), root.to_s].join('.')
      end

      private

      def canonical(value)
        text = value.to_s.downcase.tr('_', '-').gsub(/[^a-z0-9-]/, '')
        raise "Invalid DNS canonical name '#{text}', cannot start with a hyphen" if text.start_with?('-')
        raise "Invalid DNS canonical name '#{text}', cannot end with a hyphen" if text.end_with?('-')

        text
      end
    end

    # What link.address returns for a manual link: the address it was given.
    class ManualLinkDnsEncoder
      def initialize(address)
        @address = address
      end

      def encode_query(_criteria, _use_short_dns = false)
        @address
      end
    end

    class EvaluationLinkInstance
      include PropertyHelper

      attr_reader :name, :index, :id, :az, :address, :properties, :bootstrap

      def initialize(name, index, id, az, address, properties, bootstrap)
        @name = name
        @index = index
        @id = id
        @az = az
        @address = address
        @properties = properties
        @bootstrap = bootstrap
      end

      def p(*args)
        property_from(@properties, args)
      end

      def if_p(*names, &block)
        if_properties(@properties, names, self, &block)
      end
    end

    class EvaluationLink
      include PropertyHelper

      attr_reader :instances, :properties

      def initialize(instances, properties, group_name, group_type, default_network,
                     deployment_name, root_domain, dns_encoder, use_short_dns)
        @instances = instances
        @properties = properties
        @group_name = group_name
        @group_type = group_type
        @default_network = default_network
        @deployment_name = deployment_name
        @root_domain = root_domain
        @dns_encoder = dns_encoder
        @use_short_dns = use_short_dns
      end

      def p(*args)
        property_from(@properties, args)
      end

      def if_p(*names, &block)
        if_properties(@properties, names, self, &block)
      end

      def address(criteria = {})
        raise NotImplementedError, 'link.address requires bosh director' if @dns_encoder.nil?

        full = criteria.merge(
          group_name: @group_name,
          group_type: @group_type,
          default_network: @default_network,
          deployment_name: @deployment_name,
          root_domain: @root_domain
        )
        @dns_encoder.encode_query(full, @use_short_dns)
      end
    end

    # The object templates are evaluated against (self inside the ERB).
    class EvaluationContext
      include PropertyHelper

      attr_reader :name, :index, :raw_properties

      def initialize(spec, dns_encoder = nil)
        unless spec.is_a?(Hash)
          raise EvaluationFailed,
                "Invalid spec provided for template evaluation context, Hash expected, #{spec.class} given"
        end

        @raw_spec = spec
        # bosh-common takes spec['name'] (the instance group); older
        # bosh-template took spec['job']['name'], which the director also sets
        # to the instance group name.
        @name = if spec.key?('name')
                  spec['name']
                elsif spec['job'].is_a?(Hash)
                  spec['job']['name']
                end
        @index = spec['index']
        @raw_properties = spec['properties'] || {}
        @links = spec['links'] || {}
        @dns_encoder = dns_encoder
      end

      # spec and properties are OpenStruct trees as in bosh-template; built on
      # first use, since most templates only call p().
      def spec
        @spec ||= openstruct(@raw_spec, BackCompatOpenStruct)
      end

      def properties
        @properties ||= openstruct(@raw_properties)
      end

      # Shortcuts named in the project design (spec.id etc. work as well).
      def id
        @raw_spec['id']
      end

      def az
        @raw_spec['az']
      end

      def bootstrap
        @raw_spec['bootstrap']
      end

      def get_binding
        binding
      end

      def p(*args)
        property_from(@raw_properties, args)
      end

      def if_p(*names, &block)
        if_properties(@raw_properties, names, self, &block)
      end

      def link(name)
        link_spec = lookup_property(@links, name)
        raise UnknownLink, name unless link_spec.is_a?(Hash) && link_spec.key?('instances')

        create_evaluation_link(link_spec)
      end

      def if_link(name)
        link_spec = lookup_property(@links, name)
        return ActiveElseBlock.new(self) unless link_spec.is_a?(Hash) && link_spec.key?('instances')

        yield create_evaluation_link(link_spec)
        InactiveElseBlock.new
      end

      def inspect
        "#<#{self.class.name}>"
      end

      private

      def create_evaluation_link(link_spec)
        instances = Array(link_spec['instances']).map do |inst|
          inst = {} unless inst.is_a?(Hash)
          EvaluationLinkInstance.new(inst['name'], inst['index'], inst['id'], inst['az'],
                                     inst['address'], inst['properties'], inst['bootstrap'])
        end

        encoder = if link_spec.key?('address')
                    ManualLinkDnsEncoder.new(link_spec['address'])
                  else
                    @dns_encoder
                  end

        group_name = link_spec['instance_group']
        group_type = 'instance-group'
        if link_spec.fetch('use_link_dns_names', false)
          group_name = link_spec['group_name']
          group_type = 'link'
        end

        EvaluationLink.new(instances, link_spec['properties'], group_name, group_type,
                           link_spec['default_network'], link_spec['deployment_name'],
                           link_spec['domain'], encoder,
                           link_spec.fetch('use_short_dns_addresses', false))
      end

      def openstruct(object, klass = LazyOpenStruct)
        case object
        when Hash
          klass.new(object.each_with_object({}) { |(k, v), h| h[k] = openstruct(v, klass) })
        when Array
          object.map { |item| openstruct(item, klass) }
        else
          object
        end
      end

      # OpenStruct (ostruct 0.5) defines two singleton methods per key when it
      # is built, which is most of the cost of turning a large spec into
      # OpenStructs. This subclass answers reads through OpenStruct's own
      # method_missing (same values, nil for a missing key) and defines
      # accessors only for keys that shadow a public method (e.g. "hash"),
      # as OpenStruct would have to for those to work.
      class LazyOpenStruct < OpenStruct
        def respond_to_missing?(mid, include_private = false)
          @table.key?(mid.to_s.chomp('=').to_sym) || super
        end

        def methods(regular = true)
          accessors = @table.keys.flat_map { |k| [k, :"#{k}="] }
          regular ? (super | accessors) : (singleton_methods | accessors)
        end

        private

        def new_ostruct_member!(name)
          super if !@table.key?(name) && respond_to?(name)
        end
      end

      # spec.methods(false) lists the spec's keys, as in bosh-template.
      class BackCompatOpenStruct < LazyOpenStruct
        def methods(regular = true)
          regular ? super(regular) : marshal_dump.keys.map(&:to_sym)
        end
      end

      class ActiveElseBlock
        def initialize(context)
          @context = context
        end

        def else
          yield
        end

        def else_if_p(*names, &block)
          @context.if_p(*names, &block)
        end

        def else_if_link(name, &block)
          @context.if_link(name, &block)
        end
      end

      class InactiveElseBlock
        def else; end

        def else_if_p(*_names)
          InactiveElseBlock.new
        end

        def else_if_link(_name)
          InactiveElseBlock.new
        end
      end
    end
  end

  module Common
    Template = Bosh::Template unless const_defined?(:Template, false)
  end
end

module BoshRenderer
  class BadRequest < StandardError; end

  # path -> [mtime, size, source, compiled proc]
  @cache = {}

  # A file modified this recently may change again within the file system's
  # timestamp granularity without its mtime or size changing ("racy" entries,
  # as git calls them); its content is compared instead.
  RACY_SECONDS = 2

  class << self
    def compiled_template(path)
      stat = File.stat(path)
      entry = @cache[path]
      if entry && entry[0] == stat.mtime && entry[1] == stat.size
        return entry[3] if Time.now - stat.mtime > RACY_SECONDS
      end

      source = File.read(path, mode: 'r:UTF-8')
      if entry && entry[2] == source
        entry[0] = stat.mtime
        entry[1] = stat.size
        return entry[3]
      end

      erb = ERB.new(source, trim_mode: '-')
      # Compiled once into a proc that is instance_exec'd on a fresh
      # evaluation context per render: no re-parse per instance, template
      # locals stay local to one render, and, since the proc is created in
      # the EvaluationContext class body, constants a template assigns or
      # looks up resolve as with bosh-template's eval in the context binding.
      # "proc {" sits on line -1 and ERB's "#coding" comment on line 0, so
      # line numbers in backtraces are the template's own.
      code = Bosh::Template::EvaluationContext.class_eval("proc {\n#{erb.src}\n}\n", path, -1)
      @cache[path] = [stat.mtime, stat.size, source, code]
      code
    end

    def template_line(error, path)
      prefix = "#{path}:"
      (error.backtrace || []).each do |frame|
        next unless frame.start_with?(prefix)

        m = /\A(\d+)/.match(frame[prefix.length..])
        return m[1] if m
      end
      if error.is_a?(SyntaxError)
        m = /^#{Regexp.escape(path)}:(\d+):/.match(error.message)
        return m[1] if m
      end
      '(unknown)'
    end

    def error_text(error, path)
      text = error.message.to_s
      text = text.gsub(/^#{Regexp.escape(path)}:\d+: ?/, '') if error.is_a?(SyntaxError)
      text
    end

    def render_one(template, context_hash)
      name = template['name']
      path = template['path']
      begin
        code = compiled_template(path)
        context = Bosh::Template::EvaluationContext.new(context_hash, Bosh::Template::LongDnsEncoder.new(context_hash['dns_az_ids']))
        text = context.instance_exec(&code)
        text = text.to_s
        text = text.dup.force_encoding(Encoding::UTF_8) unless text.encoding == Encoding::UTF_8
        raise EncodingError, 'rendered text is not valid UTF-8' unless text.valid_encoding?

        [text, nil]
      rescue SignalException
        raise
      rescue Exception => e # rubocop:disable Lint/RescueException -- a template may raise anything, even exit
        [nil, "Error filling in template '#{name}' (line #{template_line(e, path)}: #{error_text(e, path)})"]
      ensure
        # A template may have reassigned the standard streams.
        $stdout = STDOUT
        $stderr = STDERR
        $stdin = STDIN
      end
    end

    def validate(request)
      raise BadRequest, 'request is not a JSON object' unless request.is_a?(Hash)

      templates = request['templates']
      raise BadRequest, "missing or non-array 'templates'" unless templates.is_a?(Array)

      templates.each_with_index do |t, i|
        raise BadRequest, "templates[#{i}] is not an object" unless t.is_a?(Hash)

        %w[name path dest].each do |field|
          unless t[field].is_a?(String) && !t[field].empty?
            raise BadRequest, "templates[#{i}] needs a non-empty string '#{field}'"
          end
        end
      end
      raise BadRequest, "missing or non-object 'context'" unless request['context'].is_a?(Hash)
    end

    def handle(line)
      request = nil
      begin
        request = JSON.parse(line.chomp, max_nesting: false)
      rescue JSON::ParserError => e
        detail = e.message.gsub(/\s+/, ' ').strip.sub(/\A\d+: /, '')
        detail = "#{detail[0, 200]}..." if detail.length > 200
        return { 'id' => nil, 'error' => "bad request: invalid JSON: #{detail}" }
      end
      id = request.is_a?(Hash) ? request['id'] : nil
      begin
        validate(request)
      rescue BadRequest => e
        return { 'id' => id, 'error' => "bad request: #{e.message}" }
      end

      context = request['context']
      rendered = {}
      errors = []
      templates = request['templates']
      pristine = templates.size > 1 ? JSON.generate(context) : nil
      templates.each_with_index do |template, i|
        # Each template sees its own copy of the spec, so one template that
        # mutates a value cannot change what the next one renders (the
        # director deep-copies the evaluation context the same way).
        spec = i.zero? ? context : JSON.parse(pristine, max_nesting: false)
        text, error = render_one(template, spec)
        if error
          errors << error
        else
          rendered[template['dest']] = text
        end
      end
      return { 'id' => id, 'error' => errors.join("\n") } unless errors.empty?

      { 'id' => id, 'rendered' => rendered }
    end

    def serve(input, output)
      input.each_line do |line|
        line = line.scrub unless line.valid_encoding?
        next if line.strip.empty?

        response = begin
          handle(line)
        rescue SignalException
          raise
        rescue Exception => e # rubocop:disable Lint/RescueException -- keep serving whatever happens
          { 'id' => nil, 'error' => "internal error: #{e.class}: #{e.message}" }
        end
        begin
          output.write(JSON.generate(response) << "\n")
        rescue JSON::GeneratorError, EncodingError => e
          output.write(JSON.generate({ 'id' => response['id'], 'error' => "internal error: #{e.message}" }) << "\n")
        end
        output.flush
      end
    end

    def main
      # Keep private copies of the protocol streams and point fds 0 and 1
      # elsewhere: whatever a template prints ($stdout, STDOUT, a child
      # process) goes to stderr, and nothing it reads can eat a request.
      input = $stdin.dup
      output = $stdout.dup
      output.sync = true
      output.binmode
      input.set_encoding(Encoding::UTF_8)
      $stdout.reopen($stderr)
      $stdin.reopen(File::NULL)
      $stdout = STDOUT
      $stdin = STDIN
      serve(input, output)
    rescue Errno::EPIPE, Interrupt
      exit 0
    end
  end
end

BoshRenderer.main if $PROGRAM_NAME == __FILE__
